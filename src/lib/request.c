/* request.c: placeholder */
