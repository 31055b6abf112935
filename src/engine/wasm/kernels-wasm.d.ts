/** The compiled assembly/kernels.ts, base64; esbuild.mjs provides the module when it bundles. */
declare module 'rnn-lab:kernels-wasm' {
  export const KERNELS_WASM_BASE64: string;
}
