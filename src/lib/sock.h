/* sock.h: placeholder */
