/* metrics.h: placeholder */
