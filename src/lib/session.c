/* session.c: placeholder */
