//! The run's debug log, kept in memory for the bundle. Each line passes the
//! redactor as it is written, and the whole log again when it is zipped (a
//! secret registered after a line was logged is masked then).

use std::sync::Arc;

use parking_lot::Mutex;

use tracing_subscriber::fmt::MakeWriter;

use crate::redact::ScrubbingWriter;

/// A shared in-memory log; clones write to the same buffer.
#[derive(Clone, Default)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    pub fn new() -> Self {
        LogCapture::default()
    }

    /// Everything logged so far.
    pub fn contents(&self) -> Vec<u8> {
        self.buffer.lock().clone()
    }
}

/// Appends to the shared buffer.
pub struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = ScrubbingWriter<BufferWriter>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter(BufferWriter(self.buffer.clone()))
    }
}
