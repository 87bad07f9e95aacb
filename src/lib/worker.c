/* worker.c: placeholder */
