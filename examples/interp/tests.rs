//! The interpreter's tests, on all three backends. (More below once it compiles.)
