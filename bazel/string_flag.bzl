"""A string-valued command-line build setting (what bazel_skylib's string_flag does).

Usage on the command line: --//mux:scheduler=randos
"""

def _impl(ctx):
    value = ctx.build_setting_value
    if ctx.attr.values and value not in ctx.attr.values:
        fail("%s: '%s' is not one of %s" % (ctx.label, value, ", ".join(ctx.attr.values)))
    return []

string_flag = rule(
    implementation = _impl,
    build_setting = config.string(flag = True),
    attrs = {"values": attr.string_list(doc = "Allowed values (empty: any).")},
    doc = "A string build setting settable with --<label>=<value>.",
)
