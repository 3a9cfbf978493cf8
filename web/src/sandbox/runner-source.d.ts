// The runner worker bundled as one classic script (see the runner-source plugin in vite.config.ts).
declare module 'virtual:edgeswarm-runner-source' {
  const source: string;
  export default source;
}
