/* request.h: placeholder */
