/* checkpoint.c: placeholder */
