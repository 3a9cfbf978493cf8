// Types for work modules: `/// <reference types="@edgeswarm/client/work" />` (or an import of it) lets a work module
// import `.wasm` files and type its context.

/** Importing a `.wasm` file gives a compiled module, instantiated by the work module itself. */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}

/** The second argument of the work function: the job's shared files (`.json` files parsed, others as bytes), read-only. */
interface EdgeswarmContext {
  readonly shared: Readonly<Record<string, unknown>>;
}
