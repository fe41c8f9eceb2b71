//! Incremental parsers for streamed bodies: complete lines of NDJSON, and Server-Sent Events
//! frames (the WHATWG event-stream format: `id:`, `event:`, `data:` fields, a blank line ends
//! a frame, `:` starts a comment such as a keep-alive). Pure: bytes in, values out.

/// Collects bytes and hands out complete `\n`-terminated lines; a partial last line waits for
/// the next chunk (and is dropped if the connection ends, so it is read again on resume).
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// The complete lines in `chunk` plus what was held, without their line endings.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(chunk);
        let Some(last_newline) = self.buf.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.buf.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.buf, rest);
        complete
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame {
    pub id: Option<String>,
    /// `message` when the frame names no event.
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    lines: LineBuffer,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    /// The frames `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        let mut frames = Vec::new();
        self.lines.buf.extend_from_slice(chunk);
        // Blank lines end frames, so they must be seen: split by hand instead of `LineBuffer::push`.
        while let Some(end) = self.lines.buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.lines.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if line.is_empty() {
                if let Some(frame) = self.dispatch() {
                    frames.push(frame);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "data" => self.data.push(value.to_string()),
                "event" => self.event = Some(value.to_string()),
                "id" if !value.contains('\0') => self.id = Some(value.to_string()),
                _ => {}
            }
        }
        frames
    }

    fn dispatch(&mut self) -> Option<SseFrame> {
        let event = self.event.take();
        if self.data.is_empty() {
            return None;
        }
        Some(SseFrame {
            id: self.id.clone(),
            event: event.unwrap_or_else(|| "message".into()),
            data: std::mem::take(&mut self.data).join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_for_their_newline() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(b"{\"a\":1}\n{\"b\"").len(), 1);
        assert_eq!(b.push(b":2}\r\n\n{\"c\""), vec![b"{\"b\":2}".to_vec()]);
        assert!(b.push(b"").is_empty());
    }

    #[test]
    fn frames_split_across_chunks_are_reassembled() {
        let mut p = SseParser::default();
        let stream = b": keep-alive\n\nid: 7\nevent: CommandQueued\ndata: {\"global_position\":7}\n\nid:8\nda";
        let frames = p.push(stream);
        assert_eq!(
            frames,
            vec![SseFrame {
                id: Some("7".into()),
                event: "CommandQueued".into(),
                data: "{\"global_position\":7}".into()
            }]
        );
        let frames = p.push(b"ta: x\r\ndata: y\r\n\r\n");
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].id.as_deref(), Some("8"));
        assert_eq!(frames[0].event, "message", "the event name does not carry over");
        assert_eq!(frames[0].data, "x\ny");
    }

    #[test]
    fn a_frame_without_data_is_not_dispatched() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: ping\n\n").is_empty());
        assert!(p.push(b"retry: 10\nunknown: 1\n\n").is_empty());
    }
}
