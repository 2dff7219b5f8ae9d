//! A nesting check run on config text before the YAML parser sees it.
//!
//! libyaml (under `serde_yaml_ng`) keeps a stack of possible keys per flow level (`[` / `{`)
//! and walks it for every token, so deeply nested flow collections take quadratic time:
//! 100,000 `[` took close to a minute before the parser's own recursion limit (128) refused
//! them. A config needs a handful of levels, so this scan refuses more than
//! [`MAX_FLOW_DEPTH`] open brackets at once, in linear time, and names the line and column
//! of the first bracket too many. Block nesting (indentation) is not quadratic and is left to
//! the parser's limit.
//!
//! The scan knows just enough YAML to avoid counting brackets that are not flow indicators:
//! quoted scalars (`'it''s'`, `"a \" b"`, also across lines), comments, brackets inside a
//! plain scalar (`regex: a[0-9]`), and block scalar contents (`|`, `>`). When in doubt it
//! counts less, never more, so a valid config is never refused by it.

/// The most flow collections (`[` / `{`) a config may nest.
pub const MAX_FLOW_DEPTH: usize = 64;

/// The line and column (1-based) of the first `[` or `{` nested deeper than `max`, if any.
pub fn flow_too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    // Set after a block scalar header: lines indented more than this are its content.
    let mut block_scalar_parent: Option<usize> = None;
    for (line_index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar_parent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar_parent = None;
        }
        let chars: Vec<char> = line.chars().collect();
        // The start of a line counts as whitespace before the first character.
        let mut prev = ' ';
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some('\'') => {
                    if c == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            i += 1; // '' is an escaped quote
                        } else {
                            quote = None;
                        }
                    }
                }
                Some(_) => {
                    if c == '\\' {
                        i += 1;
                    } else if c == '"' {
                        quote = None;
                    }
                }
                None => {
                    let after_space = prev == ' ' || prev == '\t';
                    let token_start = after_space || (depth > 0 && matches!(prev, '[' | '{' | ',' | ':'));
                    match c {
                        '#' if after_space => break,
                        '\'' | '"' if token_start => quote = Some(c),
                        '[' | '{' if token_start || depth > 0 => {
                            depth += 1;
                            if depth > max {
                                return Some((line_index + 1, i + 1));
                            }
                        }
                        ']' | '}' if depth > 0 => depth -= 1,
                        '|' | '>' if token_start && depth == 0 => {
                            let rest: String = chars[i + 1..].iter().collect();
                            let header = rest.split('#').next().unwrap_or("").trim_end();
                            if header.chars().all(|h| h.is_ascii_digit() || h == '-' || h == '+') {
                                block_scalar_parent = Some(indent);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            prev = c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_open_flow_collections_and_names_the_first_one_too_deep() {
        assert_eq!(flow_too_deep("a: [[[x]]]", 3), None);
        assert_eq!(flow_too_deep("a: [[[[x]]]]", 3), Some((1, 7)));
        assert_eq!(flow_too_deep("a: {b: [c, {d: [e]}]}", 4), None);
        assert_eq!(flow_too_deep("a: {b: [c, {d: [e]}]}", 3), Some((1, 16)));
        // Across lines, and closed ones do not count.
        assert_eq!(flow_too_deep("a: [\n  [x], [y],\n  [[z]]\n]\n", 3), None);
        assert_eq!(flow_too_deep("a:\n  - [\n    [\n      [x]]]\n", 2), Some((4, 7)));
    }

    #[test]
    fn brackets_that_are_not_flow_indicators_do_not_count() {
        let text = concat!(
            "regex: a[0-9]{3}[[[[\n",
            "quoted: '[[[[ it''s [[['\n",
            "double: \"[[[[ \\\" [[[\"\n",
            "multi: \"[[[[\n  [[[[\"\n",
            "comment: 1 # [[[[[\n",
            "# [[[[[[\n",
            "literal: |\n  [[[[[[\n\n  {{{{{{\n",
            "folded: >-\n  [[[[[[\n",
            "after: [ok]\n",
        );
        assert_eq!(flow_too_deep(text, 1), None);
        // A block scalar ends where the indentation does.
        assert_eq!(flow_too_deep("a: |\n  [[\nb: [[x]]\n", 1), Some((3, 5)));
    }

    #[test]
    fn a_hundred_thousand_brackets_are_refused_at_once() {
        let text = format!("receivers: {}", "[".repeat(100_000));
        assert_eq!(flow_too_deep(&text, MAX_FLOW_DEPTH), Some((1, 12 + MAX_FLOW_DEPTH)));
    }
}
