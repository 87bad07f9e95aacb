/* cookie.c: placeholder */
