/* envelope.c: placeholder */
