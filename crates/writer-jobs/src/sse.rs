//! A parser for `text/event-stream` (server-sent events), fed bytes as they
//! arrive, whatever the chunk boundaries.
//!
//! It follows the WHATWG "interpreting an event stream" rules that a client
//! reading one response needs: lines end with CRLF, LF or CR (a CRLF split
//! across two chunks counts once); a leading byte order mark is dropped;
//! a line starting with `:` is a comment; `field: value` loses one space
//! after the colon; `data` lines are joined with `\n`; an empty line
//! dispatches the event, and an event without data is not dispatched
//! (except an `error` event: Writer's SDKs raise on `event: error` whatever
//! its data, and a stream must not end as if it succeeded); an unfinished
//! event at the end of the stream is dropped. `id` and `retry`
//! only matter for reconnecting, which a synchronous run never does, so
//! they are ignored.
//!
//! Hand-written rather than taken from a crate: the grammar is a dozen
//! lines, and this one bounds what it buffers (a server that never ends a
//! line cannot make the client allocate without limit), which the small
//! SSE crates do not.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event` field (empty when none was given: a "message").
    pub(crate) event: String,
    /// The `data` lines, joined with `\n`.
    pub(crate) data: String,
}

/// The incremental parser.
#[derive(Debug)]
pub(crate) struct Parser {
    /// The bytes of the line being read.
    line: Vec<u8>,
    /// The data of the event being read, each line followed by `\n`.
    data: String,
    /// The event type of the event being read.
    event: String,
    /// The last line ended with CR: a LF right after it belongs to it.
    after_cr: bool,
    /// No line has ended yet (the byte order mark may lead the first).
    first_line: bool,
    /// The most bytes the unfinished line and event may hold together.
    limit: usize,
}

impl Parser {
    /// A parser that refuses an event or line longer than `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            data: String::new(),
            event: String::new(),
            after_cr: false,
            first_line: true,
            limit,
        }
    }

    /// Reads `bytes`, appending each event they complete to `out`. Fails
    /// when the unfinished line and event outgrow the limit.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), String> {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    self.end_line(out);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        if self.line.len() + self.data.len() > self.limit {
            return Err(format!(
                "an event of the stream is longer than {} bytes",
                self.limit
            ));
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<Event>) {
        let bytes = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&bytes).into_owned();
        if std::mem::replace(&mut self.first_line, false) && line.starts_with('\u{feff}') {
            line.drain(..'\u{feff}'.len_utf8());
        }
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            if !self.data.is_empty() || event == "error" {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the `\n` after the last data line
                out.push(Event { event, data });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => self.event = value.to_string(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::new(1 << 20);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).unwrap();
        }
        out
    }

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    const STREAM: &str = "\u{feff}: a comment\r\n\
        data: one\r\n\r\n\
        event: update\n\
        data:two\n\
        data:  three\n\
        id: 7\n\
        retry: 10\n\
        \n\
        data\r\
        \r\
        : keep-alive\n\n\
        data: héllo wörld\n\
        \n\
        event: empty\n\n\
        data: unfinished";

    #[test]
    fn fields_comments_and_line_endings() {
        let events = parse_in(&[STREAM.as_bytes()]);
        assert_eq!(data(&events), ["one", "two\n three", "", "héllo wörld"]);
        assert_eq!(events[0].event, "");
        assert_eq!(events[1].event, "update");
        assert_eq!(events[2].event, "", "the event type resets per event");
    }

    #[test]
    fn an_error_event_is_dispatched_even_without_data() {
        let events = parse_in(&[b"event: error\n\nevent: other\n\nevent: error\ndata: {}\n\n"]);
        let kinds: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds, ["error", "error"]);
        assert_eq!(data(&events), ["", "{}"]);
    }

    #[test]
    fn chunk_boundaries_anywhere() {
        let whole = parse_in(&[STREAM.as_bytes()]);
        let bytes = STREAM.as_bytes();
        // Every split into two pieces, and every split into three.
        for i in 0..=bytes.len() {
            assert_eq!(parse_in(&[&bytes[..i], &bytes[i..]]), whole, "split at {i}");
        }
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                assert_eq!(
                    parse_in(&[&bytes[..i], &bytes[i..j], &bytes[j..]]),
                    whole,
                    "split at {i} and {j}"
                );
            }
        }
        // One byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_in(&singles), whole);
    }

    #[test]
    fn crlf_split_between_chunks_ends_one_line() {
        let events = parse_in(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(data(&events), ["a\nb"]);
        // A CR alone ends a line, so CR CR ends the event.
        assert_eq!(data(&parse_in(&[b"data: a\r", b"\r"])), ["a"]);
    }

    #[test]
    fn an_unfinished_event_is_dropped_at_the_end() {
        assert!(parse_in(&[b"data: never ended\n"]).is_empty());
        assert!(parse_in(&[b"data: no newline"]).is_empty());
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = Parser::new(16);
        let mut out = Vec::new();
        assert!(parser.feed(b"data: 0123456789", &mut out).is_ok());
        let error = parser.feed(b"abcdef", &mut out).unwrap_err();
        assert!(error.contains("16 bytes"), "{error}");
        // Many short data lines of one event count too.
        let mut parser = Parser::new(12);
        let error = parser
            .feed(b"data: 01234\ndata: 56789\ndata: ab\n", &mut out)
            .unwrap_err();
        assert!(error.contains("longer than"), "{error}");
    }

    #[test]
    fn a_byte_order_mark_only_leads_the_stream() {
        let events = parse_in(&[b"\xef\xbb", b"\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n"]);
        // The second mark is part of a field name, which is then unknown.
        assert_eq!(data(&events), ["x"]);
    }
}
