//! A strict CSV record reader (RFC 4180, as departments' exports write it) that knows the physical
//! line of every record.
//!
//! The `csv` crate's line numbers drift over blank lines and CR-only line ends, and a quote that is
//! never closed silently swallows the rest of a file. Here every line end (`\n`, `\r\n` or a lone
//! `\r`) counts once; blank lines are skipped (and counted); a quoted field may hold commas and
//! doubled quotes but never a line break, so a stray quote is refused at the line where it
//! opened instead of eating the rows after it. No message quotes a value.

use std::io::BufRead;

/// One record: its fields' bytes back to back, where each ends, and the line it is on.
#[derive(Debug, Default)]
pub struct Record {
    pub line: u64,
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Record {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of field `i`.
    pub fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field (or the rest of a field after its closing quote).
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a doubled quote, or the closing one.
    QuoteInQuoted,
}

/// Reads records from a byte stream.
pub struct Records<R> {
    inner: R,
    /// The line the next byte is on.
    line: u64,
    /// The previous byte was a `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
    /// Bytes seen since the last line end (a last line without one still counts).
    line_open: bool,
}

impl<R: BufRead> Records<R> {
    pub fn new(inner: R) -> Self {
        Records { inner, line: 1, after_cr: false, line_open: false }
    }

    /// Physical lines read so far (every line end, and a last line without one).
    pub fn lines(&self) -> u64 {
        self.line - 1 + u64::from(self.line_open)
    }

    /// Reads the next record into `rec`; `Ok(false)` at the end of the input. An `Err` is the
    /// reason the file cannot be read as CSV.
    pub fn next_record(&mut self, rec: &mut Record) -> Result<bool, String> {
        rec.data.clear();
        rec.ends.clear();
        let mut state = State::FieldStart;
        let mut started = false;
        let mut quote_line = 0;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot be read from line {} on: {e}", self.line)),
            };
            if buf.is_empty() {
                if state == State::Quoted {
                    return Err(format!("line {quote_line}: a quote opened on this line is never closed"));
                }
                if started {
                    rec.ends.push(rec.data.len());
                }
                return Ok(started);
            }
            let mut i = 0;
            while i < buf.len() {
                let b = buf[i];
                i += 1;
                if std::mem::take(&mut self.after_cr) && b == b'\n' {
                    continue;
                }
                if b == b'\r' || b == b'\n' {
                    self.after_cr = b == b'\r';
                    if state == State::Quoted {
                        self.inner.consume(i);
                        return Err(format!(
                            "line {quote_line}: a quoted field opened on this line is not closed before the line ends (a stray quote?)"
                        ));
                    }
                    self.line += 1;
                    self.line_open = false;
                    if started {
                        rec.ends.push(rec.data.len());
                        self.inner.consume(i);
                        return Ok(true);
                    }
                    continue; // a blank line
                }
                self.line_open = true;
                if !started {
                    started = true;
                    rec.line = self.line;
                }
                loop {
                    match state {
                        State::FieldStart if b == b'"' => {
                            state = State::Quoted;
                            quote_line = self.line;
                        }
                        State::FieldStart | State::Unquoted => {
                            if b == b',' {
                                rec.ends.push(rec.data.len());
                                state = State::FieldStart;
                            } else {
                                rec.data.push(b);
                                state = State::Unquoted;
                            }
                        }
                        State::Quoted if b == b'"' => state = State::QuoteInQuoted,
                        State::Quoted => rec.data.push(b),
                        State::QuoteInQuoted if b == b'"' => {
                            rec.data.push(b'"');
                            state = State::Quoted;
                        }
                        State::QuoteInQuoted => {
                            // The quote closed the field; what follows is read as unquoted text.
                            state = State::Unquoted;
                            continue;
                        }
                    }
                    break;
                }
            }
            let n = buf.len();
            self.inner.consume(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<(Vec<(u64, Vec<String>)>, u64), String> {
        let mut r = Records::new(std::io::BufReader::with_capacity(3, input));
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.next_record(&mut rec)? {
            out.push((rec.line, (0..rec.len()).map(|i| String::from_utf8(rec.field(i).to_vec()).unwrap()).collect()));
        }
        Ok((out, r.lines()))
    }

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_line_end_counts_once_and_blank_lines_are_skipped() {
        for input in [&b"a,b\n\n1,2\n\n\n3,4"[..], b"a,b\r\n\r\n1,2\r\n\r\n\r\n3,4", b"a,b\r\r1,2\r\r\r3,4\r"] {
            let (rows, lines) = parse(input).unwrap();
            assert_eq!(rows, vec![(1, fields(&["a", "b"])), (3, fields(&["1", "2"])), (6, fields(&["3", "4"]))], "{input:?}");
            assert_eq!(lines, 6);
        }
    }

    #[test]
    fn quoted_fields_hold_commas_and_doubled_quotes() {
        let (rows, _) = parse(b"x,\"a,b\",\"say \"\"hi\"\"\",\"\",tail\"q\n").unwrap();
        assert_eq!(rows[0].1, fields(&["x", "a,b", "say \"hi\"", "", "tail\"q"]));
        let (rows, _) = parse(b"a,\n,\n").unwrap();
        assert_eq!(rows, vec![(1, fields(&["a", ""])), (2, fields(&["", ""]))]);
    }

    #[test]
    fn a_quote_that_runs_past_its_line_is_refused_at_the_line_it_opened() {
        let err = parse(b"a,b\n1,2\n3,\"4\n5,6\n7,8\n").unwrap_err();
        assert!(err.starts_with("line 3:"), "{err}");
        let err = parse(b"a,b\n1,\"2").unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("never closed"), "{err}");
    }
}
