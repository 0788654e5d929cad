//! A derived type's `Trace::trace_chunk`, `Trace::unroot_chunk` and
//! `Trace::trace_counting`: what `#[derive(Trace)]` calls so that a list inside a struct or
//! enum variant inside a `GcCell` (`GcCell<Table { name: Gc<Str>, rows: Vec<Value> }>`) is
//! scanned and made edges in chunks, and told large by counting a thousand of its handles,
//! as a list directly in the cell is (`cell_collector.rs`: the marker and the unroot pass
//! let go of the cell between two chunks).
//!
//! A resume index names a field and an index inside it: `inner * fields + field`, where
//! `fields` is the number of traced fields (of the variant). A struct of one traced field
//! passes its field's index through unchanged, so a newtype costs nothing; nested derived
//! types nest the encoding (the product of their field counts times the list's index).
//! An index too large to encode (never for a list that fits in memory unless the types
//! nest many wide structs) makes the chunk go on through that field instead of stopping:
//! a longer chunk, never a lost edge.
//!
//! A value whose handles (`Trace::handles_hint`) fit in a chunk is traced whole, with its
//! own `trace`: the encoding is only paid for by values of thousands of handles.
//!
//! Invariants: the fields are visited in order, each once per scan; the marker starts a
//! field in a chunk only while that chunk is not full (`Tracer::chunk_full`), so a chunk
//! is at most about two lists' chunks long; the unroot pass starts every field the chunk
//! reaches, each list bounding its own part (a type with several long lists makes edges
//! in chunks of up to one list chunk per list). Resuming on changed contents (an enum whose variant
//! a writer changed between two chunks: the writer's barrier shaded every handle, see
//! `Trace::trace_chunk`) decodes the index against the fields it finds, which is harmless:
//! the field number is always one of them, and an index past a list's end traces nothing.
//!
//! No shared state: a scan's position lives on the stack of the thread that traces.

use crate::gc::Tracer;

/// Where a derived type's chunked scan is (`#[derive(Trace)]`'s `trace_chunk`): made from
/// the resume index by [`FieldChunks::scan`], then asked to trace each traced field in
/// order ([`FieldChunks::field`]).
#[derive(Debug)]
pub struct FieldChunks {
    /// The tracer's edge count when this chunk began (`Tracer::edge_count`; 0 when making
    /// edges, whose chunks only the fields' own bound).
    start: u64,
    /// The field to resume in; the fields before it were traced in earlier chunks. Then
    /// the field being traced.
    field: usize,
    /// Where in `field` to resume (0 for every later field).
    inner: usize,
    /// How many fields are traced (`from`'s encoding).
    fields: usize,
}

impl FieldChunks {
    /// Whether a scan from the start of a value that holds about `hint` handles
    /// (`Trace::handles_hint`) traces it whole, with its `trace`: it fits in a chunk. Most
    /// cells' contents are small (an object's fields, a short list), and this spares them
    /// the per-field bookkeeping. A guess that is too low (a list of lists whose first is
    /// short) only makes the chunk longer.
    #[inline(always)]
    pub fn whole(from: usize, hint: usize) -> bool {
        from == 0 && (hint as u64) < crate::gc::CHUNK_EDGES
    }

    /// A scan of a value with `fields` traced fields (2 or more), resumed at `from` (0, or
    /// an index a previous chunk of the same scan returned): `fields_in_order` asks the
    /// scan to trace each field ([`FieldChunks::field`]) and returns what `trace_chunk`
    /// does. Never inlined: a small value is traced whole (`whole`) without it, so the
    /// derived `trace_chunk` stays about the size of the `trace` it calls. (Measured on a
    /// list of 200,000 objects each holding a `GcCell<Pair { next, items: Vec<_>, n }>`,
    /// marked 20 times: 21 more instructions per cell traced than before the derive
    /// chunked, of about 370; 27 with the bookkeeping inlined and no `whole`, 49 with
    /// both inlined, when the compiler moved the `Vec`'s loop out of line.)
    #[inline(never)]
    pub fn scan(
        tracer: &mut Tracer,
        from: usize,
        fields: usize,
        fields_in_order: impl FnOnce(&mut FieldChunks, &mut Tracer) -> Option<usize>,
    ) -> Option<usize> {
        debug_assert!(fields >= 2, "a type of one field passes its index through");
        let mut chunks = FieldChunks {
            start: tracer.edge_count(),
            field: from % fields,
            inner: from / fields,
            fields,
        };
        fields_in_order(&mut chunks, tracer)
    }

    /// Traces field number `index` (they are asked in order, each once) with `chunk`, its
    /// `Trace::trace_chunk`. `Some(answer)` is what the derived `trace_chunk` returns now:
    /// `Some(resume)` when the chunk is full, `None` never (the caller returns `None` after
    /// its last field). `None` goes on to the next field.
    #[inline(always)]
    pub fn field(
        &mut self,
        tracer: &mut Tracer,
        index: usize,
        mut chunk: impl FnMut(&mut Tracer, usize) -> Option<usize>,
    ) -> Option<Option<usize>> {
        let full = index > self.field && tracer.chunk_full(self.start);
        self.step(index, full, |from| chunk(tracer, from))
    }

    /// A derived type's `Trace::unroot_chunk`: made from the resume index (as
    /// [`FieldChunks::scan`]), then asked to make each traced field edges in order
    /// ([`FieldChunks::unroot_field`]). Each field's own chunks bound the chunk (a list's
    /// are 4,096 elements; a field without a list is made edges whole).
    #[inline(never)]
    pub fn unroot_scan(
        from: usize,
        fields: usize,
        fields_in_order: impl FnOnce(&mut FieldChunks) -> Option<usize>,
    ) -> Option<usize> {
        debug_assert!(fields >= 2, "a type of one field passes its index through");
        let mut chunks = FieldChunks {
            start: 0,
            field: from % fields,
            inner: from / fields,
            fields,
        };
        fields_in_order(&mut chunks)
    }

    /// [`FieldChunks::field`] for `Trace::unroot_chunk`: makes field number `index` edges
    /// with `chunk`, its `unroot_chunk`; every field is started in the chunk that reaches
    /// it.
    #[inline(always)]
    pub fn unroot_field(
        &mut self,
        index: usize,
        chunk: impl FnMut(usize) -> Option<usize>,
    ) -> Option<Option<usize>> {
        self.step(index, false, chunk)
    }

    /// The two's common step: skips a field done in an earlier chunk, stops before a
    /// later one if the chunk is `full`, else runs `chunk` on it from the resume point (0
    /// for a field started here) and encodes where it stopped.
    #[inline(always)]
    fn step(
        &mut self,
        index: usize,
        full: bool,
        mut chunk: impl FnMut(usize) -> Option<usize>,
    ) -> Option<Option<usize>> {
        if index < self.field {
            // Done in an earlier chunk.
            return None;
        }
        if index > self.field {
            // An earlier field ended in this chunk: start this one only if there is room.
            if full {
                return Some(Some(index));
            }
            self.field = index;
        }
        let mut from = std::mem::take(&mut self.inner);
        while let Some(next) = chunk(from) {
            match next
                .checked_mul(self.fields)
                .and_then(|n| n.checked_add(index))
            {
                Some(resume) => return Some(Some(resume)),
                // Too deep to encode: this chunk goes on through the field.
                None => from = next,
            }
        }
        None
    }
}

/// Whether a counting tracer has counted as many edges as it was asked for: a derived
/// type's `trace_counting` stops between two fields then, as a container does between two
/// elements. False for every other tracer.
#[inline(always)]
pub fn counted_enough(tracer: &Tracer) -> bool {
    tracer.counted_enough()
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::FieldChunks;
    use crate::gc::{count_edges, CHUNK_EDGES};
    use crate::{Gc, Trace};

    #[derive(crate::Trace)]
    #[trace(crate = "crate")]
    struct Table {
        name: Gc<u64>,
        rows: Vec<Gc<u64>>,
        width: u32,
        extra: Vec<Option<Gc<u64>>>,
    }

    #[derive(crate::Trace)]
    #[trace(crate = "crate")]
    struct Rows(Vec<Gc<u64>>);

    #[derive(crate::Trace)]
    #[trace(crate = "crate")]
    enum Value {
        Nil,
        List(Vec<Gc<u64>>),
        Pair(Gc<u64>, Rows),
        Table(Box<Table>),
    }

    fn list(n: u64) -> Vec<Gc<u64>> {
        (0..n).map(Gc::new).collect()
    }

    fn table(rows: u64, extra: u64) -> Table {
        Table {
            name: Gc::new(7),
            rows: list(rows),
            width: 3,
            extra: (0..extra)
                .map(|i| (i % 2 == 0).then(|| Gc::new(i)))
                .collect(),
        }
    }

    /// `value` scanned in chunks from 0: the edges of each chunk, and the resume points.
    fn chunks<T: Trace>(value: &T) -> (Vec<u64>, Vec<usize>) {
        let (mut sizes, mut resumes) = (Vec::new(), Vec::new());
        count_edges(u64::MAX, |t| {
            let mut from = 0;
            loop {
                let start = t.edge_count();
                let next = value.trace_chunk(t, from);
                sizes.push(t.edge_count() - start);
                match next {
                    Some(n) => {
                        assert!(!resumes.contains(&n), "resumed twice at {n}");
                        resumes.push(n);
                        from = n;
                    }
                    None => break,
                }
            }
        });
        (sizes, resumes)
    }

    /// A derived type's chunks cover every edge of every field once, each at most two
    /// lists' chunks long; a list in a field is resumed inside, not rescanned.
    #[test]
    fn a_derived_types_lists_are_traced_in_chunks_that_cover_it_once() {
        let c = CHUNK_EDGES;
        // 1 + 10,000 + 3,000 edges: the name and the first chunk of rows, two more of
        // rows, the last of rows with all of `extra` (the chunk was not full yet).
        let t = table(10_000, 6_000);
        let (sizes, resumes) = chunks(&t);
        assert_eq!(sizes.iter().sum::<u64>(), 13_001);
        assert_eq!(sizes, [c + 1, c, 10_000 - 2 * c + 3_000]);
        // Field 1 (`rows`) at element 4,096, then at 8,192, of 4 fields.
        assert_eq!(resumes, [c as usize * 4 + 1, 2 * c as usize * 4 + 1]);
        // The fields after one that filled the chunk wait for the next: `width` (field 2,
        // no edges) and `extra`.
        let t = table(2 * c, 6_000);
        assert_eq!(
            chunks(&t),
            (vec![c + 1, c, 3_000], vec![c as usize * 4 + 1, 2])
        );
        // A newtype passes its list's indices through.
        let rows = Rows(list(10_000));
        assert_eq!(chunks(&rows), chunks(&rows.0));
        // Enums: each variant by its own fields; nested derived types nest the encoding.
        for (value, edges) in [
            (Value::Nil, 0),
            (Value::List(list(9_000)), 9_000),
            (Value::Pair(Gc::new(1), Rows(list(9_000))), 9_001),
            (Value::Table(Box::new(table(20_000, 100))), 20_051),
        ] {
            let (sizes, _) = chunks(&value);
            assert_eq!(sizes.iter().sum::<u64>(), edges);
            assert!(sizes.iter().all(|&s| s <= 2 * c + 1), "{sizes:?}");
            assert_eq!(count_edges(u64::MAX, |t| value.trace(t)), edges);
        }
        // Resumed at an index of another shape (a writer changed the variant between two
        // chunks, having shaded everything): some of it or nothing, never a fault.
        let other = Value::Pair(Gc::new(1), Rows(list(10)));
        for from in [1, 2, 3, 4 * c as usize + 1, usize::MAX] {
            assert!(count_edges(u64::MAX, |t| assert!(other.trace_chunk(t, from).is_none())) <= 11);
        }
    }

    /// An index too large to encode with the field number makes the chunk go on through
    /// that field instead of stopping.
    #[test]
    fn a_resume_index_too_large_to_encode_goes_on_in_the_chunk() {
        let mut calls = Vec::new();
        count_edges(u64::MAX, |t| {
            let answer = FieldChunks::scan(t, 0, 3, |scan, t| {
                let first = scan.field(t, 0, |_, from| {
                    calls.push(from);
                    (from == 0).then_some(usize::MAX / 2)
                });
                assert_eq!(first, None, "the field was traced to its end");
                None
            });
            assert_eq!(answer, None);
        });
        assert_eq!(calls, [0, usize::MAX / 2]);
    }

    /// A derived type's `unroot_chunk` makes its fields edges in order, a list's chunk at a
    /// time, the handles past the resume point still roots; a type with a cell inside is
    /// made edges whole.
    #[test]
    fn a_derived_types_lists_are_made_edges_in_chunks() {
        let c = CHUNK_EDGES as usize;
        let flags = |t: &Table| {
            let mut f = vec![t.name.is_rooted_for_test()];
            f.extend(t.rows.iter().map(|g| g.is_rooted_for_test()));
            f.extend(t.extra.iter().flatten().map(|g| g.is_rooted_for_test()));
            f
        };
        let mut t = table(10_000, 6_000);
        // Rooted clones keep the objects alive while the table's handles are edges.
        let keep: Vec<Gc<u64>> = std::iter::once(t.name.clone())
            .chain(t.rows.iter().cloned())
            .chain(t.extra.iter().flatten().cloned())
            .collect();
        assert!(<Table as Trace>::unroots_in_chunks());
        let mut resumes = Vec::new();
        let mut from = 0;
        // SAFETY: test: the objects stay alive through `keep`, and every handle is rooted
        // again below before the table is dropped.
        while let Some(next) = unsafe { t.unroot_chunk(from) } {
            resumes.push(next);
            // The handles before the resume point are edges, the rest roots: the name,
            // the rows, then `extra`'s (a handle at every even index).
            let (field, at) = (next % 4, next / 4);
            let edges = match field {
                1 => 1 + at,
                3 => 1 + 10_000 + at.div_ceil(2),
                _ => unreachable!("resumed in field {field}"),
            };
            let f = flags(&t);
            assert!(f[..edges].iter().all(|r| !r), "{next}");
            assert!(f[edges..].iter().all(|r| *r), "{next}");
            from = next;
        }
        // `rows` (field 1 of 4) at 4,096 and 8,192; its last 1,808 with `extra`'s first
        // 4,096 elements (a list's own chunks bound the chunk), then the rest of `extra`.
        assert_eq!(resumes, [c * 4 + 1, 2 * c * 4 + 1, c * 4 + 3]);
        assert!(flags(&t).iter().all(|r| !r));
        // SAFETY: as above.
        unsafe { t.root() };
        assert!(flags(&t).iter().all(|r| *r));
        drop(keep);
        // A field holding a cell: whole.
        #[derive(crate::Trace)]
        #[trace(crate = "crate")]
        struct WithCell {
            rows: Vec<Gc<u64>>,
            cell: crate::GcCell<u64>,
        }
        assert!(!<WithCell as Trace>::unroots_in_chunks());
        assert!(<Rows as Trace>::unroots_in_chunks());
        // A box could hold anything (`Box<dyn Trace>` too): whole.
        assert!(!<Value as Trace>::unroots_in_chunks());
    }

    /// A derived type's `trace_counting` stops between two fields once enough edges were
    /// counted, and inside a list field as the list's own does.
    #[test]
    fn a_derived_type_is_counted_only_to_enough() {
        let enough = 1_024;
        let count = |value: &Value| count_edges(enough, |t| value.trace_counting(t));
        let big = Value::Table(Box::new(table(100_000, 100_000)));
        assert_eq!(count(&big), enough);
        // Enough only with the second list's handles: all of the first is counted.
        let late = Value::Table(Box::new(table(1_000, 100_000)));
        assert_eq!(count(&late), enough);
        let small = Value::Table(Box::new(table(10, 20)));
        assert_eq!(count(&small), 21);
        assert_eq!(count(&Value::Pair(Gc::new(1), Rows(list(5_000)))), enough);
    }
}
