/* sid.c: placeholder */
