/** Words that carry no meaning for retrieval (questions are mostly made of them). */
const STOPWORDS = new Set(
  'a an and are as at be by can could did do does for from had has have how i in is it its me my of on or should so that the their them there these they this to was we were what when where which who whom why will with would you your about please tell explain'.split(
    ' ',
  ),
)

/** `rewrite_query`: keep the words that identify the topic, in order ("What is X made of?" → "X made"). */
export function rewriteQuery(query: string): string {
  const words = query.match(/[\p{L}\p{N}][\p{L}\p{N}'_-]*/gu) ?? []
  const kept = words.filter((w) => !STOPWORDS.has(w.toLowerCase()))
  return (kept.length ? kept : words).join(' ')
}
