/* session.h: placeholder */
