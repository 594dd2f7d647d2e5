//! capture-wasm: the hosted page's Rust side. One module, two places: on the page's main thread
//! it opens the front camera and grabs frames ([`camera`]); in a Web Worker it runs the
//! client-side checks on them ([`checker`]), so inference never stalls the page. The server
//! trusts none of it: it only helps the user's first try succeed.

pub mod camera;
pub mod checker;
