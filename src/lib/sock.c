/* sock.c: placeholder */
