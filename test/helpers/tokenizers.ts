/** Hugging Face tokenizer.json fixtures written by hand (no downloads). */

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/**
 * SentencePiece-style BPE (Metaspace: '▁' marks a word start, prepended to the first word),
 * with a Llama-style post-processor that puts <s> before a single text. The merges make the
 * target "46" alone "▁46" (14) but "46" (15) after "=": the boundary a continuation must respect.
 */
export const SENTENCEPIECE_LIKE = {
  version: '1.0',
  added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>'), special(20, '<|user|>'), special(21, '<|assistant|>'), special(22, '<|end|>')],
  normalizer: null,
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
  },
  decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: '<unk>',
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: false,
    ignore_merges: false,
    vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, '▁': 3, '1': 4, '2': 5, '3': 6, '4': 7, '6': 8, '+': 9, '=': 10, Q: 11, ':': 12, '▁4': 13, '▁46': 14, '46': 15, '▁1': 16, '▁12': 17, '12': 18, '34': 19, '<|user|>': 20, '<|assistant|>': 21, '<|end|>': 22 },
    merges: ['▁ 4', '▁4 6', '4 6', '▁ 1', '▁1 2', '1 2', '3 4'],
  },
};
