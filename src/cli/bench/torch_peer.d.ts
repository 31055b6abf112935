/** The PyTorch peer's Python source, bundled as text by esbuild.mjs (loader '.py': 'text'). */
declare module '*.py' {
  const source: string;
  export default source;
}
