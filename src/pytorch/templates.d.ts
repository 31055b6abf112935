/** The Python sources of the exported project (src/pytorch/templates/*.py), bundled as text by esbuild. */
declare module '*.py' {
  const text: string;
  export default text;
}
