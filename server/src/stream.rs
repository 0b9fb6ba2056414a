//! `chunked_stream`: an HTTP body rendered a chunk of rows at a time (the CSV exports).

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

#[cfg(test)]
mod tests {
    use super::chunked_stream;
    use futures::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn rows_are_rendered_a_chunk_at_a_time_as_the_body_is_read() {
        let rendered = Arc::new(AtomicUsize::new(0));
        let seen = rendered.clone();
        let stream = chunked_stream(b"head\n".to_vec(), (1..=7).collect::<Vec<i32>>(), 3, move |batch: &[i32]| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(batch.iter().map(|n| format!("{n}\n")).collect::<String>().into_bytes())
        });
        // Nothing is rendered before the body is read.
        assert_eq!(rendered.load(Ordering::SeqCst), 0);
        let chunks: Vec<String> = futures::executor::block_on(stream.map(|c| String::from_utf8(c.unwrap()).unwrap()).collect());
        assert_eq!(chunks, ["head\n", "1\n2\n3\n", "4\n5\n6\n", "7\n"]);
        assert_eq!(rendered.load(Ordering::SeqCst), 3);
    }
}
