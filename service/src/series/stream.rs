//! `chunked_stream`: an HTTP body rendered a chunk of rows at a time (the exports' CSV files).

/// An HTTP body in pieces: `head`, then `rows` rendered `per_chunk` at a time, each chunk only
/// when the client is ready for it. Exports use it so a large file never sits in memory as
/// one string (the rows are already small structs; their text is what would be big).
pub fn chunked_stream<T, F>(
    head: Vec<u8>,
    rows: Vec<T>,
    per_chunk: usize,
    mut render: F,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static
where
    T: Send + 'static,
    F: FnMut(&[T]) -> std::io::Result<Vec<u8>> + Send + 'static,
{
    use futures::StreamExt;
    let per_chunk = per_chunk.max(1);
    let mut rows = rows.into_iter();
    let body = std::iter::from_fn(move || {
        let batch: Vec<T> = rows.by_ref().take(per_chunk).collect();
        (!batch.is_empty()).then(|| render(&batch))
    });
    futures::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(futures::stream::iter(body))
}
