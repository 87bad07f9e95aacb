/* route.c: placeholder */
