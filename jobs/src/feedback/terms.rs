//! Keyword extraction from feedback comments: the topics of an answer that came without
//! tags. Pure and synchronous (the callers run it on a blocking thread).
//!
//! Chinese has no spaces between words, so the comment is segmented with jieba's
//! dictionary and part-of-speech tags; English words come out of the same segmentation
//! as `eng` tokens. The candidates are content words — nouns, verbs, adjectives and
//! English words — that are not stop words, and the [`MAX_TERMS`] with the highest
//! TF-IDF weight (jieba's IDF table; words it does not know get its median IDF) are the
//! comment's terms, lower case, best first.
//!
//! Person names (`nr`) and place names (`ns`) are never candidates, and neither is
//! anything with a digit, `@` or other non-letter in it (phone numbers, addresses, order
//! numbers): terms are shown to analysts in aggregate, so they should carry what the
//! comment is about, not who wrote it. They are still derived from personal text, and
//! treated as such (see `jobs::satisfaction`).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use jieba_rs::{Jieba, KeywordExtract, KeywordExtractConfig, TfIdf};

/// Most terms kept from one comment.
pub const MAX_TERMS: usize = 5;

/// The shortest English word kept (`ok`, `go` say nothing).
const MIN_LATIN_CHARS: usize = 3;

/// jieba's part-of-speech tags of content words: nouns (`n`, other proper nouns `nz`,
/// organisations `nt` such as a courier's name), verbs and verbal nouns (`v`, `vn`),
/// adjectives (`a`, `an`), and words in Latin letters (`eng`).
const CONTENT_TAGS: [&str; 8] = ["n", "nz", "nt", "v", "vn", "a", "an", "eng"];

static STOP_WORDS: &str = include_str!("stop_words.txt");

/// The dictionary and IDF table, loaded once per process (about 350,000 words: a few
/// hundred milliseconds, so not per comment).
struct Extractor {
    jieba: Jieba,
    tfidf: TfIdf,
}

static EXTRACTOR: LazyLock<Extractor> = LazyLock::new(|| {
    let stop_words: BTreeSet<String> = STOP_WORDS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let mut tfidf = TfIdf::default();
    *tfidf.config_mut() = KeywordExtractConfig::builder()
        .set_stop_words(stop_words)
        .min_keyword_length(2)
        .build();
    Extractor {
        jieba: Jieba::new(),
        tfidf,
    }
});

/// The terms of a comment, best first, at most [`MAX_TERMS`], each at most
/// `max_chars` characters; none for a comment of stop words only.
pub fn extract_terms(comment: &str, max_chars: usize) -> Vec<String> {
    let text = without_addresses(&comment.to_lowercase());
    let extractor = &*EXTRACTOR;
    // More candidates than kept: some fail the checks below.
    let candidates = extractor.tfidf.extract_keywords(
        &extractor.jieba,
        &text,
        MAX_TERMS * 4,
        CONTENT_TAGS.iter().map(|tag| (*tag).to_owned()).collect(),
    );
    let mut terms: Vec<String> = Vec::new();
    for candidate in candidates {
        let term = candidate.keyword;
        if is_term(&term, max_chars) && !terms.contains(&term) {
            terms.push(term);
            if terms.len() == MAX_TERMS {
                break;
            }
        }
    }
    terms
}

/// The comment without email addresses and links, whose parts (`example`, `com`) would
/// otherwise pass as words.
fn without_addresses(text: &str) -> String {
    text.split_whitespace()
        .filter(|chunk| {
            !(chunk.contains('@') || chunk.contains("://") || chunk.starts_with("www."))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Letters only (no digits, no `@`, no punctuation), long enough to mean something.
fn is_term(word: &str, max_chars: usize) -> bool {
    let chars = word.chars().count();
    if chars > max_chars || !word.chars().all(char::is_alphabetic) {
        return false;
    }
    if word.is_ascii() {
        chars >= MIN_LATIN_CHARS
    } else {
        chars >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(comment: &str) -> Vec<String> {
        extract_terms(comment, 64)
    }

    #[test]
    fn chinese_comments_yield_their_content_words() {
        let found = terms("物流太慢了，快递员态度也很差，价格有点贵");
        assert!(found.contains(&"物流".to_owned()), "{found:?}");
        assert!(found.contains(&"价格".to_owned()), "{found:?}");
        assert!(!found.iter().any(|t| t.chars().count() < 2), "{found:?}");
        assert!(found.len() <= MAX_TERMS);
    }

    #[test]
    fn english_comments_drop_stop_words_and_case() {
        let found = terms("The Delivery was late and the packaging was damaged.");
        assert!(found.contains(&"delivery".to_owned()), "{found:?}");
        assert!(found.contains(&"packaging".to_owned()), "{found:?}");
        for stop in ["the", "was", "and"] {
            assert!(!found.contains(&stop.to_owned()), "{found:?}");
        }
    }

    #[test]
    fn mixed_comments_yield_both_scripts() {
        let found = terms("客服 service 很好");
        assert!(found.contains(&"客服".to_owned()), "{found:?}");
        assert!(found.contains(&"service".to_owned()), "{found:?}");
    }

    #[test]
    fn numbers_addresses_and_names_are_not_terms() {
        let found = terms("张伟 call me on 13800138000 or li.na@example.com, order A12345");
        for personal in ["13800138000", "a12345", "example", "张伟"] {
            assert!(!found.contains(&personal.to_owned()), "{found:?}");
        }
    }

    #[test]
    fn stop_words_only_yield_nothing() {
        assert!(terms("it was what it was").is_empty());
        assert!(terms("我们觉得还行").is_empty());
        assert!(terms("").is_empty());
    }

    #[test]
    fn terms_are_bounded() {
        let long = "delivery price quality service packaging refund warranty size colour";
        assert_eq!(terms(long).len(), MAX_TERMS);
        assert!(extract_terms("packaging", 5).is_empty());
    }
}
