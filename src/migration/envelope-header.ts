// Header rewriting belongs to the format (src/format/header-rewrite.ts); `rotate` and the
// data-key currency check reach it through this name.
export { rewrappedHeader, withHeader } from '../format/header-rewrite'
