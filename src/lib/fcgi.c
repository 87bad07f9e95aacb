/* fcgi.c: placeholder */
