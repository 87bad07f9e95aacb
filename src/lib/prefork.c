/* prefork.c: placeholder */
