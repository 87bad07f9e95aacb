/* worker.h: placeholder */
