/// "1 template", "3 templates": a count with its noun, for sentences people read.
/// `plural` for nouns that do not just take an "s" ("1 entry", "2 entries").
public func counted(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
    "\(n) " + (n == 1 ? singular : plural ?? singular + "s")
}
