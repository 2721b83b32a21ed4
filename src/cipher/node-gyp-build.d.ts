/** node-gyp-build ships no types: it loads the native addon found under `dir` (build/, then prebuilds/). */
declare module 'node-gyp-build' {
  function load(dir: string): unknown
  export default load
}
