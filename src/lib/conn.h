/* conn.h: placeholder */
