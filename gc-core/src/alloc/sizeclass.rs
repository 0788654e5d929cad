//! Size classes: Go's 67 small-object classes (Go 1.22+, `sizeclasses.go`) plus two of
//! our own, 40 and 56 bytes, and the lookups built from them.
//!
//! `GO_BASE` is Go's table, (object size, pages per span), copied from the output of Go's
//! `mksizeclasses.go`: DO NOT EDIT it by hand. `EXTRA` holds the two classes Go leaves out
//! only because its heap bitmap assumes 16-byte alignment for objects of 32 bytes and more;
//! nothing here does (`placement` picks a class whose size is a multiple of the object's
//! alignment), and a Rust object of two `GcCell<Option<Gc<_>>>`s and a word is 40 bytes,
//! which Go's classes round up to 48 (GCBench's node; the interpreter's environments).
//! Everything else (the merged table, objects per span, tail waste, the division magic,
//! the two lookup tables) is generated from these at compile time by the `const fn`s below
//! and checked by `const` assertions and tests, so a typo fails the build. Pure logic: no
//! `unsafe`, no globals beyond constant tables. See the allocator overview
//! (`crate::design::allocator`).

use super::{PAGE_SIZE, TINY_SIZE};

/// Number of size classes, including class 0 (large objects, one per span): Go's 68 and
/// the two in `EXTRA`.
pub(crate) const NUM_SIZE_CLASSES: usize = 1 + GO_BASE.len() + EXTRA.len();
/// Largest object served from size-classed spans; larger objects get their own span.
pub(crate) const MAX_SMALL_SIZE: usize = 32768;
/// Sizes up to this use the 8-byte-granular lookup table.
const SMALL_SIZE_MAX: usize = 1024;
/// Granularity of the lookup above `SMALL_SIZE_MAX`.
const LARGE_SIZE_DIV: usize = 128;
/// Granularity of the lookup up to `SMALL_SIZE_MAX`.
const SMALL_SIZE_DIV: usize = 8;

/// (bytes per object, pages per span) of Go's classes 1..=67; Go's `mksizeclasses.go` output.
const GO_BASE: [(u32, u32); 67] = [
    (8, 1),
    (16, 1),
    (24, 1),
    (32, 1),
    (48, 1),
    (64, 1),
    (80, 1),
    (96, 1),
    (112, 1),
    (128, 1),
    (144, 1),
    (160, 1),
    (176, 1),
    (192, 1),
    (208, 1),
    (224, 1),
    (240, 1),
    (256, 1),
    (288, 1),
    (320, 1),
    (352, 1),
    (384, 1),
    (416, 1),
    (448, 1),
    (480, 1),
    (512, 1),
    (576, 1),
    (640, 1),
    (704, 1),
    (768, 1),
    (896, 1),
    (1024, 1),
    (1152, 1),
    (1280, 1),
    (1408, 2),
    (1536, 1),
    (1792, 2),
    (2048, 1),
    (2304, 2),
    (2688, 1),
    (3072, 3),
    (3200, 2),
    (3456, 3),
    (4096, 1),
    (4864, 3),
    (5376, 2),
    (6144, 3),
    (6528, 4),
    (6784, 5),
    (6912, 6),
    (8192, 1),
    (9472, 7),
    (9728, 6),
    (10240, 5),
    (10880, 4),
    (12288, 3),
    (13568, 5),
    (14336, 7),
    (16384, 2),
    (18432, 9),
    (19072, 7),
    (20480, 5),
    (21760, 8),
    (24576, 3),
    (27264, 10),
    (28672, 7),
    (32768, 4),
];

/// (bytes per object, pages per span) of the classes Go's 16-byte alignment rule drops and
/// this allocator keeps (module header). Sizes not in `GO_BASE`, in increasing order.
const EXTRA: [(u32, u32); 2] = [(40, 1), (56, 1)];

/// `GO_BASE` and `EXTRA` merged in increasing size: classes 1.. of this allocator.
const BASE: [(u32, u32); NUM_SIZE_CLASSES - 1] = {
    let mut out = [(0, 0); NUM_SIZE_CLASSES - 1];
    let (mut g, mut e, mut i) = (0, 0, 0);
    while i < out.len() {
        let take_extra = e < EXTRA.len() && (g == GO_BASE.len() || EXTRA[e].0 < GO_BASE[g].0);
        if take_extra {
            out[i] = EXTRA[e];
            e += 1;
        } else {
            out[i] = GO_BASE[g];
            g += 1;
        }
        // Strictly increasing: a size in both lists, or an unsorted `EXTRA`, fails the build.
        assert!(i == 0 || out[i].0 > out[i - 1].0);
        i += 1;
    }
    out
};

/// Everything the allocator needs to know about one size class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SizeClass {
    /// Bytes per object (0 for class 0).
    pub size: u32,
    /// Pages per span.
    pub npages: u32,
    /// Objects per span.
    pub nelems: u32,
    /// `u32::MAX / size + 1`: `(offset * div_mul) >> 32 == offset / size` for every offset
    /// inside a span (checked below), so finding an object's index needs no division.
    pub div_mul: u32,
}

const fn build_classes() -> [SizeClass; NUM_SIZE_CLASSES] {
    let mut out = [SizeClass {
        size: 0,
        npages: 0,
        nelems: 0,
        div_mul: 0,
    }; NUM_SIZE_CLASSES];
    let mut i = 0;
    while i < BASE.len() {
        let (size, npages) = BASE[i];
        let span = npages as usize * PAGE_SIZE;
        out[i + 1] = SizeClass {
            size,
            npages,
            nelems: (span / size as usize) as u32,
            div_mul: (u32::MAX / size) + 1,
        };
        i += 1;
    }
    out
}

/// The size-class table, indexed by class number. Generated from `BASE`.
pub(crate) const CLASSES: [SizeClass; NUM_SIZE_CLASSES] = build_classes();

/// `CLASS8[(size + 7) / 8]` is the class for `size <= 1024`. Generated.
const CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = {
    let mut t = [0u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1];
    let mut c = 1;
    let mut i = 0;
    while i < t.len() {
        while (CLASSES[c].size as usize) < i * SMALL_SIZE_DIV {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
};

/// `CLASS128[(size - 1024 + 127) / 128]` is the class for `1024 < size <= 32768`. Generated.
const CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] = {
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut c = 1;
    let mut i = 0;
    while i < t.len() {
        while (CLASSES[c].size as usize) < SMALL_SIZE_MAX + i * LARGE_SIZE_DIV {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
};

/// The size class for an object of `size` bytes (`1..=MAX_SMALL_SIZE`); size 0 is treated
/// as 1 (`CLASS8[0]` is class 1). Returns 0 for sizes above `MAX_SMALL_SIZE` (large objects).
#[inline(always)]
pub(crate) const fn size_to_class(size: usize) -> usize {
    if size <= SMALL_SIZE_MAX {
        CLASS8[size.div_ceil(SMALL_SIZE_DIV)] as usize
    } else if size <= MAX_SMALL_SIZE {
        CLASS128[(size - SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV)] as usize
    } else {
        0
    }
}

/// A span class: `size_class << 1 | noscan`. Noscan spans hold objects with no `Gc` inside,
/// which the marker never reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SpanClass(pub u8);

/// Number of span classes (two per size class).
pub(crate) const NUM_SPAN_CLASSES: usize = NUM_SIZE_CLASSES * 2;

impl SpanClass {
    #[inline(always)]
    pub(crate) const fn new(size_class: usize, noscan: bool) -> SpanClass {
        SpanClass(((size_class as u8) << 1) | noscan as u8)
    }
    #[inline(always)]
    pub(crate) const fn size_class(self) -> usize {
        (self.0 >> 1) as usize
    }
    #[inline(always)]
    pub(crate) const fn noscan(self) -> bool {
        self.0 & 1 != 0
    }
    #[inline(always)]
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

// Layout facts the allocator relies on, checked at compile time.
const _: () = {
    assert!(CLASSES[0].size == 0);
    assert!(CLASSES[NUM_SIZE_CLASSES - 1].size as usize == MAX_SMALL_SIZE);
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        let k = CLASSES[c];
        // Sizes strictly increase and are multiples of 8 (so every object is 8-aligned).
        assert!(k.size > CLASSES[c - 1].size);
        assert!(k.size % 8 == 0);
        // At least one object per span, at most 1024 (alloc/mark bitmaps are 16 words).
        assert!(k.nelems >= 1 && k.nelems <= 1024);
        // Power-of-two sizes up to a page are aligned to their size (Go guarantees this).
        if k.size.is_power_of_two() && k.size as usize <= PAGE_SIZE {
            assert!(PAGE_SIZE % k.size as usize == 0);
        }
        c += 1;
    }
    // The lookup tables agree with the class sizes at every boundary.
    let mut s = 1;
    while s <= MAX_SMALL_SIZE {
        let c = size_to_class(s);
        assert!(CLASSES[c].size as usize >= s);
        assert!((CLASSES[c - 1].size as usize) < s || c == 1);
        s += 1;
    }
};

/// Where a new object goes (the first step of `mallocgc`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Placement {
    /// Shares a 16-byte tiny block (no `Gc`, no `Drop`, smaller than 16 bytes).
    Tiny,
    /// A slot of a size-classed span.
    Small(SpanClass),
    /// Its own span.
    Large,
}

/// Where an object of `size` bytes aligned to `align` (at most a page) goes: `plain` objects
/// (no `Gc`, no drop glue) under 16 bytes share tiny blocks; `noscan` ones go to spans the
/// marker never scans. Used at compile time for sized types and at run time for slices.
pub(crate) const fn placement(size: usize, align: usize, plain: bool, noscan: bool) -> Placement {
    if plain && size < TINY_SIZE && align <= 8 {
        Placement::Tiny
    } else if size > MAX_SMALL_SIZE {
        Placement::Large
    } else {
        // The smallest class whose slots are all aligned: slot offsets are multiples of the
        // class size, span bases are page-aligned.
        let mut c = size_to_class(size);
        while c < NUM_SIZE_CLASSES && CLASSES[c].size as usize % align != 0 {
            c += 1;
        }
        if c == NUM_SIZE_CLASSES {
            Placement::Large
        } else {
            Placement::Small(SpanClass::new(c, noscan))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects per span and tail waste from Go's published table (reference section 2).
    const GO_TABLE: [(u32, u32, u32, u32); 16] = [
        // (Go's class, objects, tail bytes, bytes/span)
        (1, 1024, 0, 8192),
        (3, 341, 8, 8192),
        (5, 170, 32, 8192),
        (11, 56, 128, 8192),
        (23, 19, 288, 8192),
        (28, 12, 512, 8192),
        (35, 11, 896, 16384),
        (41, 8, 0, 24576),
        (45, 5, 256, 24576),
        (49, 6, 256, 40960),
        (50, 7, 768, 49152),
        (52, 6, 512, 57344),
        (60, 4, 0, 73728),
        (63, 3, 256, 65536),
        (65, 3, 128, 81920),
        (67, 1, 0, 32768),
    ];

    #[test]
    fn matches_go_published_table() {
        for (go_class, objs, tail, span) in GO_TABLE {
            // Our class of the same size (ours are Go's with `EXTRA` in between).
            let class = size_to_class(GO_BASE[go_class as usize - 1].0 as usize);
            let k = CLASSES[class];
            assert_eq!(
                k.size,
                GO_BASE[go_class as usize - 1].0,
                "Go class {go_class}"
            );
            assert_eq!(k.nelems, objs, "Go class {go_class}");
            assert_eq!(
                k.npages as usize * PAGE_SIZE,
                span as usize,
                "Go class {go_class}"
            );
            assert_eq!(span - k.nelems * k.size, tail, "Go class {go_class}");
        }
    }

    #[test]
    fn every_go_class_and_the_extras_are_classes() {
        let sizes: Vec<u32> = CLASSES[1..].iter().map(|k| k.size).collect();
        let mut want: Vec<u32> = GO_BASE.iter().chain(&EXTRA).map(|&(s, _)| s).collect();
        want.sort_unstable();
        assert_eq!(sizes, want);
        // The extras: an object of 33-40 (41-56) bytes no longer takes 48 (64).
        assert_eq!(CLASSES[size_to_class(40)].size, 40);
        assert_eq!(CLASSES[size_to_class(41)].size, 48);
        assert_eq!(CLASSES[size_to_class(49)].size, 56);
        assert_eq!(CLASSES[size_to_class(40)].nelems, 204);
        // A 16-byte-aligned object of 40 bytes still gets a class of 16-byte multiples.
        assert_eq!(
            placement(40, 16, false, false),
            Placement::Small(SpanClass::new(size_to_class(48), false))
        );
    }

    #[test]
    fn size_lookup_is_smallest_fitting_class() {
        for size in 1..=MAX_SMALL_SIZE {
            let c = size_to_class(size);
            let fits = (1..NUM_SIZE_CLASSES)
                .find(|&c| CLASSES[c].size as usize >= size)
                .unwrap();
            assert_eq!(c, fits, "size {size}");
        }
        assert_eq!(size_to_class(0), 1);
        assert_eq!(size_to_class(MAX_SMALL_SIZE + 1), 0);
        assert_eq!(size_to_class(1 << 30), 0);
    }

    #[test]
    fn div_magic_is_exact_for_every_offset() {
        for k in &CLASSES[1..] {
            let span = k.npages as usize * PAGE_SIZE;
            for off in 0..span {
                let q = ((off as u64 * k.div_mul as u64) >> 32) as usize;
                assert_eq!(q, off / k.size as usize, "size {} offset {off}", k.size);
            }
        }
    }

    #[test]
    fn span_class_round_trips() {
        for c in 0..NUM_SIZE_CLASSES {
            for noscan in [false, true] {
                let sc = SpanClass::new(c, noscan);
                assert_eq!(sc.size_class(), c);
                assert_eq!(sc.noscan(), noscan);
                assert!(sc.index() < NUM_SPAN_CLASSES);
            }
        }
    }

    #[test]
    fn worst_case_waste_stays_below_go_bound() {
        // Go's table: no class wastes more than 87.5% in the worst case (class 1, 1-byte
        // objects), and none above class 1 more than 43.75%.
        for c in 2..NUM_SIZE_CLASSES {
            let k = CLASSES[c];
            let prev = CLASSES[c - 1].size as usize;
            let span = k.npages as usize * PAGE_SIZE;
            let used = k.nelems as usize * (prev + 1);
            let waste = 1.0 - used as f64 / span as f64;
            assert!(waste <= 0.4375 + 1e-9, "class {c} waste {waste}");
        }
    }
}
