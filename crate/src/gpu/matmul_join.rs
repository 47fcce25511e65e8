//! Joined matmuls (docs/gpu.md, "Dispatches per layer"): a matmul recorded
//! right after another one that reads the same quantized input joins its
//! dispatch, up to three weights (Q, K, V; gate, up), so that a layer records
//! one matmul dispatch for each. Decided while recording, like the residual
//! add's fold (`matmul::fold_residual`), so the `Executor` trait and the models
//! are unchanged.
//!
//! The joined kernels (`wgsl/matmul_join_rows.wgsl`, `wgsl/matmul_join_tiled.wgsl`)
//! compute each output exactly as `matmul_rows.wgsl` / `matmul.wgsl` do
//! (docs/numerics.md sections 3 and 14): the same block terms, summed and
//! rounded the same way. WGSL cannot index bindings, so `source` emits the
//! per-weight part once per weight, with the names of that weight's format
//! file (`wgsl/formats/*.wgsl`), block term and bindings suffixed `_0`, `_1`,
//! `_2`: weights of different formats join too (Gemma's Q4_K_M mixes Q4_K and
//! Q6_K). A weight split across bindings (larger than the device's
//! `maxStorageBufferBindingSize`) is not joined.
//!
//! A joined gate·up dispatch whose SiLU or GELU product the down projection
//! quantizes on load becomes *gated* (`gated`, `wgsl/matmul_join_gated_*.wgsl`):
//! gate row r and up row r are computed by one invocation (per-row) or
//! workgroup (tiled), which also writes their product in 64 bits
//! (`wgsl/product_*.wgsl`, the arithmetic of `silu_mul.wgsl` / `gelu_mul.wgsl`).

use super::commands::{Binding, Command};
use super::shader::Kernel;
use super::{formats, GpuExecutor, GpuInput, GpuRows, GpuWeight, PooledBuffer};
use crate::exact::quant::WeightFormat;

const HEAD: &str = include_str!("wgsl/matmul_join.wgsl");
const ROWS: &str = include_str!("wgsl/matmul_join_rows.wgsl");
const TILED: &str = include_str!("wgsl/matmul_join_tiled.wgsl");
const GATED_ROWS: &str = include_str!("wgsl/matmul_join_gated_rows.wgsl");
const GATED_TILED: &str = include_str!("wgsl/matmul_join_gated_tiled.wgsl");
const PRODUCT_SILU: &str = include_str!("wgsl/product_silu.wgsl");
const PRODUCT_GELU: &str = include_str!("wgsl/product_gelu.wgsl");
const ENTRY: &str = "// @entry\n";
const SELECT: &str = "// @select ";

/// Weights one dispatch multiplies its input by, at most.
pub const MAX_JOIN: usize = 3;

/// A joined matmul kernel: per-row or tiled, the format of each weight
/// (two or three; unused slots `None`), and for gate and up the gated product
/// it also writes (`gated`), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Join {
    pub per_row: bool,
    pub formats: [Option<WeightFormat>; MAX_JOIN],
    pub product: Option<Product>,
}

/// The gated product of gate and up (docs/numerics.md sections 8 and 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    Silu,
    Gelu,
}

impl Join {
    /// Two or three Q4_1 weights (SmolLM2's), for the pre-compiled list.
    pub const fn q4_1(per_row: bool, n: usize, product: Option<Product>) -> Join {
        let q = Some(WeightFormat::Q4_1);
        Join {
            per_row,
            formats: [q, q, if n == 3 { q } else { None }],
            product,
        }
    }

    fn formats(self) -> impl Iterator<Item = WeightFormat> {
        self.formats.into_iter().flatten()
    }
}

/// Binding numbers of weight `i`'s matrix and output (the input is binding 2).
fn binding_numbers(i: usize) -> (usize, usize) {
    [(1, 3), (4, 5), (6, 7)][i]
}

/// The joined kernel's module after the shared library (`int64`, `f16`,
/// `reduce`, a `dot4` flavour), which `shader::source` writes first.
pub(super) fn source(join: Join, block: &str, s: &mut String) {
    let template = if join.per_row { ROWS } else { TILED };
    let (segment, mut entry) = template
        .split_once(ENTRY)
        .expect("joined matmul templates have an entry marker");
    s.push_str(HEAD);
    s.push_str(formats::COMMON);
    if let Some(product) = join.product {
        entry = if join.per_row {
            GATED_ROWS
        } else {
            GATED_TILED
        };
        s.push_str(match product {
            Product::Silu => PRODUCT_SILU,
            Product::Gelu => PRODUCT_GELU,
        });
    }
    let mut names = Vec::new();
    for (i, format) in join.formats().enumerate() {
        let (w, out) = binding_numbers(i);
        let chunk = format!(
            "@group(0) @binding({w}) var<storage, read> w: array<u32>;\n\
             @group(0) @binding({out}) var<storage, read_write> out: array<i32>;\n\
             {}{block}{segment}",
            formats::source(format)
        );
        names = defined_names(&chunk);
        s.push_str(&suffix_names(&chunk, &names, i));
    }
    let n = join.formats().count();
    for line in entry.lines() {
        match line.split_once(SELECT) {
            Some((indent, call)) => s.push_str(&select(indent, call, &names, n)),
            None => s.push_str(line),
        }
        s.push('\n');
    }
}

/// The chain of `if`s that runs `call` (with `ROW` the row within the weight)
/// for the weight whose rows hold `row`.
fn select(indent: &str, call: &str, names: &[String], n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let bound = if i + 1 < n {
            format!("p.end_{i}")
        } else {
            "p.rows".to_string()
        };
        let row = if i == 0 {
            "row".to_string()
        } else {
            format!("(row - p.end_{})", i - 1)
        };
        let call = suffix_names(&call.replace("ROW", &row), names, i);
        let el = if i == 0 { "" } else { "else " };
        s.push_str(&format!("{indent}{el}if (row < {bound}) {{ {call} }}\n"));
    }
    s
}

/// The module-scope functions and constants `chunk` defines, its bindings and
/// the parameter it reads per weight (`p.stride`).
fn defined_names(chunk: &str) -> Vec<String> {
    let mut names = vec!["w".to_string(), "out".to_string(), "stride".to_string()];
    for line in chunk.lines() {
        for keyword in ["fn ", "const "] {
            if let Some(rest) = line.strip_prefix(keyword) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.push(name);
            }
        }
    }
    names
}

/// `src` with every identifier in `names` suffixed `_i` (comments included),
/// except after a `.` (a field or a swizzle), where only `p.stride` is the weight's.
fn suffix_names(src: &str, names: &[String], i: usize) -> String {
    let mut out = String::with_capacity(src.len() + 256);
    let mut word = String::new();
    let mut field = false;
    let flush = |word: &mut String, out: &mut String, field: bool| {
        out.push_str(word);
        if names.iter().any(|n| n == word) && (!field || word == "stride") {
            out.push_str(&format!("_{i}"));
        }
        word.clear();
    };
    for c in src.chars() {
        let continues = c.is_ascii_alphanumeric() || c == '_';
        if continues && (!word.is_empty() || !c.is_ascii_digit()) {
            word.push(c);
        } else {
            if !word.is_empty() {
                flush(&mut word, &mut out, field);
            }
            field = c == '.';
            out.push(c);
        }
    }
    flush(&mut word, &mut out, field);
    out
}

/// The matmul recorded last, while it is the last recorded command: the
/// weights it multiplies `act` by, with their rows, and its outputs.
pub(super) struct OpenMatmul {
    /// Its index among the recorded commands.
    pub(super) command: usize,
    act: wgpu::Buffer,
    cols: usize,
    n_tokens: usize,
    weights: Vec<(WeightFormat, usize)>,
    /// Whether another matmul may join it (not one that quantizes on load).
    pub(super) joinable: bool,
}

impl OpenMatmul {
    /// An unsplit matmul of `w` by `x`, recorded as command `command`.
    pub(super) fn new(command: usize, w: &GpuWeight, x: &GpuInput) -> Self {
        OpenMatmul {
            command,
            act: x.buf.get().clone(),
            cols: x.cols,
            n_tokens: x.rows,
            weights: vec![(w.format, w.rows)],
            joinable: true,
        }
    }

    /// Whether it is a single matmul (a residual add may fold into it).
    pub(super) fn single(&self) -> bool {
        self.weights.len() == 1
    }
}

/// Joins the matmul of `w` by `x` into the open matmul when it reads the same
/// input and neither weight is split; `out` is the new product's buffer.
/// False if it cannot (the caller then records its own dispatch).
pub(super) fn join(ex: &mut GpuExecutor, w: &GpuWeight, x: &GpuInput, out: &PooledBuffer) -> bool {
    let Some(open) = ex.open_matmul.as_mut() else {
        return false;
    };
    if w.parts.len() != 1
        || !open.joinable
        || open.weights.len() >= MAX_JOIN
        || open.act != *x.buf.get()
        || (open.cols, open.n_tokens) != (x.cols, x.rows)
    {
        return false;
    }
    let Some(Command::Dispatch {
        kernel,
        params,
        bindings,
        groups,
    }) = ex.commands.get_mut(open.command)
    else {
        return false;
    };
    // The open command is the last recorded, so its parameters end the buffer.
    if params.0 + params.1 != ex.params.len() as u64 {
        return false;
    }
    let per_row = ex.summary.matmul_per_row;
    if open.weights.len() == 1 {
        bindings.truncate(3);
    }
    bindings.push(Binding::from(&w.parts[0].buf));
    bindings.push(Binding::from(out.get()));
    open.weights.push((w.format, w.rows));
    let mut formats = [None; MAX_JOIN];
    let mut ends = [0u32; MAX_JOIN];
    let mut strides = [0u32; MAX_JOIN];
    let mut total = 0;
    for (i, &(format, rows)) in open.weights.iter().enumerate() {
        formats[i] = Some(format);
        strides[i] = rows as u32;
        total += rows;
        ends[i] = total as u32;
    }
    *kernel = Kernel::MatmulJoin(Join {
        per_row,
        formats,
        product: None,
    });
    let words = [
        total as u32,
        x.cols as u32,
        x.rows as u32,
        0,
        strides[0],
        0,
        ends[0],
        ends[1],
        strides[1],
        strides[2],
    ];
    ex.params.truncate(params.0 as usize);
    for word in words {
        ex.params.extend_from_slice(&word.to_le_bytes());
    }
    params.1 = (words.len() as u64 * 4).next_multiple_of(16);
    ex.params.resize((params.0 + params.1) as usize, 0);
    let per_group = if per_row { 64 } else { 8 };
    groups[0] = total.div_ceil(per_group) as u32;
    true
}

/// The open matmul's command when it is gate and up joined (two weights of
/// `gate.cols` rows each, by `gate.rows` tokens) into `gate` and `up`: the
/// gated product recorded next may then move into it (`gated`).
pub(super) fn gate_up_join(ex: &GpuExecutor, gate: &GpuRows, up: &GpuRows) -> Option<usize> {
    let open = ex.open_matmul.as_ref()?;
    let Some(Command::Dispatch { bindings, .. }) = ex.commands.get(open.command) else {
        return None;
    };
    let square = open.weights.len() == 2
        && open.weights.iter().all(|&(_, rows)| rows == gate.cols)
        && open.n_tokens == gate.rows
        && (up.rows, up.cols) == (gate.rows, gate.cols);
    (square && bindings[2].buf == *gate.buf.get() && bindings[4].buf == *up.buf.get())
        .then_some(open.command)
}

/// Makes the joined gate·up dispatch `command` also write the gated product
/// of each gate and up value (64-bit) into `hid`: one invocation (per-row) or
/// workgroup (tiled) computes gate row r and up row r, then the product.
pub(super) fn gated(
    ex: &mut GpuExecutor,
    command: usize,
    product: Product,
    hid: &wgpu::Buffer,
    gate_rows: usize,
) {
    let per_row = ex.summary.matmul_per_row;
    let exp2 = ex.exp2_table();
    let Some(Command::Dispatch {
        kernel: Kernel::MatmulJoin(join),
        bindings,
        groups,
        ..
    }) = ex.commands.get_mut(command)
    else {
        unreachable!("gate_up_join found a joined dispatch");
    };
    join.product = Some(product);
    bindings.push(Binding::from(hid));
    bindings.push(Binding::from(&exp2));
    let per_group = if per_row { 64 } else { 8 };
    groups[0] = gate_rows.div_ceil(per_group) as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_suffixed_as_whole_identifiers() {
        let names = vec!["w".to_string(), "q_word".to_string()];
        let names = [names, vec!["stride".to_string()]].concat();
        let got = suffix_names(
            "q_word(w[wb + 1u]) + q_words + w2 + ww + h.w + p.stride",
            &names,
            1,
        );
        assert_eq!(
            got,
            "q_word_1(w_1[wb + 1u]) + q_words + w2 + ww + h.w + p.stride_1"
        );
    }

    #[test]
    fn the_select_chain_covers_every_row() {
        let names = vec!["f".to_string()];
        let got = select("  ", "f(ROW);", &names, 3);
        assert_eq!(
            got,
            "  if (row < p.end_0) { f_0(row); }\n\
             \x20 else if (row < p.end_1) { f_1((row - p.end_0)); }\n\
             \x20 else if (row < p.rows) { f_2((row - p.end_1)); }\n"
        );
    }
}
