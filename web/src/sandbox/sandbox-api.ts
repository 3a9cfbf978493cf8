// What the job sandbox frame (/sandbox) offers the volunteer page, and the headers the hub and the dev server serve it with.

/** Bumped when the page and the frame would no longer understand each other. */
export const SANDBOX_API_VERSION = 1;

/** Where the frame is served (hub and Vite dev server). */
export const SANDBOX_PATH = '/sandbox/';
