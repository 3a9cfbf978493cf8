// Entry of each job worker thread: plain JavaScript because Node 20 does not apply tsx's loader hooks to a worker's entry module; it loads the TypeScript runner through tsx's API.
import { tsImport } from 'tsx/esm/api';

await tsImport('./job-runner.ts', import.meta.url);
