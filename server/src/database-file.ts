/** Name of the SQLite file inside the data dir, shared by the hub and the backup command. */
export const DATABASE_FILE = 'edgeswarm.db';
