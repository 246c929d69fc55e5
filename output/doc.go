// Package output is the event schema of the agent and its encoding: the keys
// of the events and metrics DataKit receives, their documentation table
// (SchemaMarkdown), and the Encoder that turns detect's decisions and stats
// into cliutils points. It is the one authority on what can be encoded:
// input's configuration check calls its validators CheckTagKey,
// CheckTagValue, CheckTagSet and CheckLanguage, and datakit.CheckURL.
//
// Subpackages do the other jobs: render writes the events' title and
// Markdown message per language, datakit delivers the encoded points to
// DataKit through disk queues.
package output
