/* conn.c: placeholder */
