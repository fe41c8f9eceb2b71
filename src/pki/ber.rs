//! A bounded BER reader that rewrites what devices send into the DER shape the CMS code reads.
//!
//! Real devices and common tools send CMS in BER: `openssl cms -sign -stream` and Apple devices
//! (some `Mdm-Signature` values, over-the-air enrollment bodies) use indefinite lengths and
//! split OCTET STRINGs into constructed chunks; Go's pkcs7 does the latter in SCEP. The der
//! crate reads DER only, so every CMS a device sends passes through [`normalize`] first:
//!
//! - indefinite lengths become definite, non-minimal definite lengths become minimal;
//! - a constructed universal string (OCTET STRING, BIT STRING, the character strings) becomes
//!   the primitive string of its chunks' concatenated octets (so eContent is the content the
//!   messageDigest covers, RFC 5652 §5.4);
//! - everything else is copied byte for byte. An element that needs none of the above keeps its
//!   exact bytes, so an embedded (DER) certificate keeps the fingerprint it was sent with, and
//!   already-DER input comes back borrowed and unchanged.
//!
//! Two linear passes: the first walks the input once into a flat pre-order list of elements,
//! computing each rewritten length bottom-up; the second writes. Nesting depth and input size
//! are bounded; every malformation is a [`BerError`] naming its byte offset, never a panic.
//! Implicitly tagged constructed strings (`[0] IMPLICIT OCTET STRING` chunks) cannot be told
//! from other context-specific structures without the schema: their lengths are normalized and
//! their chunks kept, for the reader that knows the schema (scep/envelope.rs).

use std::borrow::Cow;

/// The bounds of one [`normalize_with`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BerLimits {
    /// Constructed elements nested deeper than this are refused. CMS with certificates nests
    /// about 12 levels.
    pub max_depth: usize,
    /// Inputs longer than this are refused before any parsing.
    pub max_len: usize,
}

impl Default for BerLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            // Above the largest body a device may send CMS in (SCEP: 1 MiB).
            max_len: 2 << 20,
        }
    }
}

/// Why a structure is not readable BER. Offsets are byte positions in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    #[error("empty input")]
    Empty,
    #[error("{len} bytes exceed the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("nested deeper than {max} levels at byte {offset}")]
    TooDeep { max: usize, offset: usize },
    #[error("truncated at byte {offset}: the {what} is cut off")]
    Truncated { offset: usize, what: &'static str },
    #[error("the element at byte {offset} overruns the element that contains it")]
    Overrun { offset: usize },
    #[error("{count} trailing bytes after the structure (from byte {offset})")]
    TrailingData { offset: usize, count: usize },
    #[error("indefinite length on a primitive element at byte {offset}")]
    IndefinitePrimitive { offset: usize },
    #[error("end-of-contents marker outside an indefinite length at byte {offset}")]
    MisplacedEndOfContents { offset: usize },
    #[error("unsupported length at byte {offset}: {reason}")]
    BadLength { offset: usize, reason: &'static str },
    #[error("tag number too large at byte {offset}")]
    BadTag { offset: usize },
    #[error("constructed {string} at byte {offset}: {reason}")]
    BadChunk {
        offset: usize,
        string: &'static str,
        reason: &'static str,
    },
}

/// [`normalize_with`] under the default [`BerLimits`].
pub fn normalize(input: &[u8]) -> Result<Cow<'_, [u8]>, BerError> {
    normalize_with(input, BerLimits::default())
}

/// Reads one BER element spanning all of `input` and returns its DER-shaped form (see the
/// module documentation): `Cow::Borrowed(input)` when nothing needed rewriting.
pub fn normalize_with(input: &[u8], limits: BerLimits) -> Result<Cow<'_, [u8]>, BerError> {
    if input.is_empty() {
        return Err(BerError::Empty);
    }
    if input.len() > limits.max_len {
        return Err(BerError::TooLarge {
            len: input.len(),
            max: limits.max_len,
        });
    }
    let mut walk = Walk {
        input,
        limits,
        nodes: Vec::new(),
    };
    let end = walk.element(0, input.len(), 0, None)?;
    if end != input.len() {
        return Err(BerError::TrailingData {
            offset: end,
            count: input.len() - end,
        });
    }
    let root = &walk.nodes[0];
    if !root.changed {
        return Ok(Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(total_len(root));
    walk.emit(0, &mut out);
    Ok(Cow::Owned(out))
}

/// The universal string types BER may split into chunks (X.690 §8.6.4, §8.7.3, §8.23.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringKind {
    Octets,
    Bits,
    /// A restricted character string or time type: its chunks are OCTET STRINGs.
    Chars,
}

impl StringKind {
    fn of_universal(number: u8) -> Option<Self> {
        match number {
            3 => Some(StringKind::Bits),
            4 => Some(StringKind::Octets),
            12 | 18..=30 => Some(StringKind::Chars),
            _ => None,
        }
    }

    /// The universal tag number of the chunks.
    fn chunk_number(self) -> u8 {
        match self {
            StringKind::Bits => 3,
            StringKind::Octets | StringKind::Chars => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            StringKind::Octets => "OCTET STRING",
            StringKind::Bits => "BIT STRING",
            StringKind::Chars => "character string",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Primitive,
    Constructed,
    /// A constructed string written out as one primitive string.
    String(StringKind),
}

/// One element of the input, in pre-order.
struct Node {
    start: usize,
    tag_len: usize,
    content_start: usize,
    /// End of the content octets (before an end-of-contents marker).
    content_end: usize,
    /// End of the element as sent.
    end: usize,
    form: Form,
    /// Whether the element's bytes differ from its DER shape (here or below).
    changed: bool,
    /// Length of the rewritten content octets.
    out_len: usize,
    /// BIT STRING chunks: the unused-bits octet of the last leaf (kept so that nested chunks
    /// are not re-scanned).
    unused: u8,
    /// Index of the node after this element's subtree.
    next: usize,
}

/// Length octets of a definite DER length.
fn length_octets(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

fn total_len(node: &Node) -> usize {
    node.tag_len + length_octets(node.out_len) + node.out_len
}

fn write_length(out: &mut Vec<u8>, len: usize) {
    let octets = length_octets(len);
    if octets == 1 {
        out.push(len as u8);
        return;
    }
    out.push(0x80 | (octets - 1) as u8);
    for i in (0..octets - 1).rev() {
        out.push((len >> (8 * i)) as u8);
    }
}

struct Walk<'a> {
    input: &'a [u8],
    limits: BerLimits,
    nodes: Vec<Node>,
}

impl Walk<'_> {
    /// The octet at `at`, which must lie before `limit` (the enclosing element's end).
    fn byte(&self, at: usize, limit: usize, what: &'static str) -> Result<u8, BerError> {
        if at >= limit {
            return Err(if at >= self.input.len() {
                BerError::Truncated { offset: at, what }
            } else {
                BerError::Overrun { offset: at }
            });
        }
        Ok(self.input[at])
    }

    /// Reads the element at `start`, which must end by `limit`; `chunk_of` is set inside a
    /// constructed string. Returns the end of the element.
    fn element(
        &mut self,
        start: usize,
        limit: usize,
        depth: usize,
        chunk_of: Option<StringKind>,
    ) -> Result<usize, BerError> {
        let first = self.byte(start, limit, "tag")?;
        let constructed = first & 0x20 != 0;
        let universal = first & 0xc0 == 0;
        let mut at = start + 1;
        if first & 0x1f == 0x1f {
            // High tag number: base-128, at most 4 octets (tag numbers below 2^28).
            let mut octets = 0;
            loop {
                let b = self.byte(at, limit, "tag")?;
                at += 1;
                octets += 1;
                if octets > 4 {
                    return Err(BerError::BadTag { offset: start });
                }
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let tag_len = at - start;
        if first == 0x00 {
            return Err(BerError::MisplacedEndOfContents { offset: start });
        }
        let string = if universal && tag_len == 1 {
            StringKind::of_universal(first & 0x1f)
        } else {
            None
        };
        if let Some(kind) = chunk_of {
            if !universal || tag_len != 1 || first & 0x1f != kind.chunk_number() {
                return Err(BerError::BadChunk {
                    offset: start,
                    string: kind.name(),
                    reason: "a chunk has another type",
                });
            }
        }

        let length_at = at;
        let b = self.byte(at, limit, "length")?;
        at += 1;
        let mut changed = false;
        let definite = match b {
            0x80 => {
                if !constructed {
                    return Err(BerError::IndefinitePrimitive { offset: start });
                }
                changed = true;
                None
            }
            0xff => {
                return Err(BerError::BadLength {
                    offset: length_at,
                    reason: "0xFF is reserved",
                })
            }
            short if short < 0x80 => Some(short as usize),
            long => {
                let octets = (long & 0x7f) as usize;
                if octets > 4 {
                    return Err(BerError::BadLength {
                        offset: length_at,
                        reason: "more than 4 length octets",
                    });
                }
                let mut len = 0usize;
                for _ in 0..octets {
                    len = (len << 8) | self.byte(at, limit, "length")? as usize;
                    at += 1;
                }
                // A longer length field than DER's is legal BER; it is rewritten.
                changed |= length_octets(len) != 1 + octets;
                Some(len)
            }
        };
        let content_start = at;

        let index = self.nodes.len();
        let form = match (constructed, string) {
            (false, _) => Form::Primitive,
            (true, Some(kind)) => {
                changed = true;
                Form::String(kind)
            }
            (true, None) => Form::Constructed,
        };
        self.nodes.push(Node {
            start,
            tag_len,
            content_start,
            content_end: content_start,
            end: content_start,
            form,
            changed,
            out_len: 0,
            unused: 0,
            next: index + 1,
        });

        let (content_end, end) = match definite {
            Some(len) => {
                let content_end = match content_start.checked_add(len) {
                    Some(e) if e <= limit => e,
                    Some(e) if e > self.input.len() => {
                        return Err(BerError::Truncated {
                            offset: start,
                            what: "content",
                        })
                    }
                    _ => return Err(BerError::Overrun { offset: start }),
                };
                if constructed {
                    self.children(index, content_start, Some(content_end), limit, depth)?;
                }
                (content_end, content_end)
            }
            None => self.children(index, content_start, None, limit, depth)?,
        };
        let next = self.nodes.len();
        let node = &mut self.nodes[index];
        node.content_end = content_end;
        node.end = end;
        node.next = next;
        if node.form == Form::Primitive {
            node.out_len = content_end - content_start;
            if chunk_of == Some(StringKind::Bits) {
                node.unused = *self
                    .input
                    .get(content_start)
                    .filter(|_| content_end > content_start)
                    .ok_or(BerError::BadChunk {
                        offset: start,
                        string: "BIT STRING",
                        reason: "a chunk lacks its unused-bits octet",
                    })?;
            }
        }
        Ok(end)
    }

    /// Reads the content of constructed node `index`: up to `content_end` (definite) or up to
    /// an end-of-contents marker before `limit`. Returns (content end, element end).
    fn children(
        &mut self,
        index: usize,
        content_start: usize,
        content_end: Option<usize>,
        limit: usize,
        depth: usize,
    ) -> Result<(usize, usize), BerError> {
        if depth + 1 > self.limits.max_depth {
            return Err(BerError::TooDeep {
                max: self.limits.max_depth,
                offset: self.nodes[index].start,
            });
        }
        let chunk_of = match self.nodes[index].form {
            Form::String(kind) => Some(kind),
            _ => None,
        };
        let child_limit = content_end.unwrap_or(limit);
        let mut at = content_start;
        let mut out_len = 0usize;
        let mut changed = false;
        // Bit strings: the unused-bits octet of the chunk read last (earlier ones must be 0).
        let mut last_unused: Option<u8> = None;
        let (content_end, end) = loop {
            match content_end {
                Some(end) if at == end => break (end, end),
                Some(_) => {}
                None => {
                    if self.byte(at, limit, "end-of-contents marker")? == 0x00 {
                        if self.byte(at + 1, limit, "end-of-contents marker")? != 0x00 {
                            return Err(BerError::BadLength {
                                offset: at + 1,
                                reason: "an end-of-contents marker has a non-zero length",
                            });
                        }
                        break (at, at + 2);
                    }
                }
            }
            let child = self.nodes.len();
            at = self.element(at, child_limit, depth + 1, chunk_of)?;
            let node = &self.nodes[child];
            changed |= node.changed;
            match chunk_of {
                None => out_len += total_len(node),
                Some(StringKind::Bits) => {
                    if last_unused.is_some_and(|u| u != 0) {
                        return Err(BerError::BadChunk {
                            offset: node.start,
                            string: "BIT STRING",
                            reason: "only the last chunk may have unused bits",
                        });
                    }
                    // A nested chunk's out_len already counts one unused-bits octet.
                    out_len += node.out_len.saturating_sub(1);
                    last_unused = Some(node.unused);
                }
                Some(_) => out_len += node.out_len,
            }
        };
        if chunk_of == Some(StringKind::Bits) {
            if last_unused.is_some_and(|u| u > 7) {
                return Err(BerError::BadChunk {
                    offset: self.nodes[index].start,
                    string: "BIT STRING",
                    reason: "more than 7 unused bits",
                });
            }
            out_len += 1;
        }
        let node = &mut self.nodes[index];
        node.changed |= changed;
        node.out_len = out_len;
        node.unused = last_unused.unwrap_or(0);
        Ok((content_end, end))
    }

    /// Writes node `index`'s DER shape into `out`.
    fn emit(&self, index: usize, out: &mut Vec<u8>) {
        let node = &self.nodes[index];
        if !node.changed {
            out.extend_from_slice(&self.input[node.start..node.end]);
            return;
        }
        let tag = &self.input[node.start..node.start + node.tag_len];
        match node.form {
            Form::Primitive => {
                out.extend_from_slice(tag);
                write_length(out, node.out_len);
                out.extend_from_slice(&self.input[node.content_start..node.content_end]);
            }
            Form::Constructed => {
                out.extend_from_slice(tag);
                write_length(out, node.out_len);
                let mut child = index + 1;
                while child < node.next {
                    self.emit(child, out);
                    child = self.nodes[child].next;
                }
            }
            Form::String(kind) => {
                // Universal string tags are one octet; the primitive form clears bit 6.
                out.push(tag[0] & !0x20);
                write_length(out, node.out_len);
                let leaves = self.nodes[index + 1..node.next]
                    .iter()
                    .filter(|n| n.form == Form::Primitive);
                if kind == StringKind::Bits {
                    out.push(node.unused);
                    for leaf in leaves {
                        out.extend_from_slice(&self.input[leaf.content_start + 1..leaf.content_end]);
                    }
                } else {
                    for leaf in leaves {
                        out.extend_from_slice(&self.input[leaf.content_start..leaf.content_end]);
                    }
                }
            }
        }
    }
}

#[doc(hidden)]
#[path = "ber_testing.rs"]
pub mod testing;

#[cfg(test)]
#[path = "ber_tests.rs"]
mod tests;
