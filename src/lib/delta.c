/* delta.c: placeholder */
