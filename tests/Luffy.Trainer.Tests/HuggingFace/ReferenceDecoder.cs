using Luffy.Trainer.HuggingFace;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests.HuggingFace;

/// <summary>
/// An independent, deliberately plain implementation of the Qwen2 / Llama forward pass for one unpadded sequence:
/// double-precision arrays and explicit loops (embedding lookup, RMSNorm, projections, rotary angles from
/// Math.Cos/Math.Sin, causal softmax attention with grouped key/value heads, SwiGLU), straight from the weights.
/// </summary>
internal sealed class ReferenceDecoder
{
    private readonly TransformerConfig c;
    private readonly Dictionary<string, double[]> w = new();
    private readonly Dictionary<string, long[]> shapes = new();

    public ReferenceDecoder(TransformerConfig config, IEnumerable<KeyValuePair<string, Tensor>> weights)
    {
        c = config;
        foreach ((string name, Tensor t) in weights)
        {
            w[name] = t.detach().to_type(ScalarType.Float64).cpu().contiguous().data<double>().ToArray();
            shapes[name] = t.shape;
        }
    }

    /// <summary>Logits (T, V) of every position of <paramref name="ids"/>, positions 0..T-1.</summary>
    public double[][] Logits(int[] ids)
    {
        int t = ids.Length, h = c.HiddenSize, d = c.HeadDim;
        var x = new double[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = Row("model.embed_tokens.weight", ids[i]);
        }
        for (int layer = 0; layer < c.Layers; layer++)
        {
            string p = $"model.layers.{layer}.";
            var normed = x.Select(r => RmsNorm(r, p + "input_layernorm.weight")).ToArray();
            var q = normed.Select(r => Linear(r, p + "self_attn.q_proj")).ToArray();
            var k = normed.Select(r => Linear(r, p + "self_attn.k_proj")).ToArray();
            var v = normed.Select(r => Linear(r, p + "self_attn.v_proj")).ToArray();
            for (int i = 0; i < t; i++)
            {
                for (int head = 0; head < c.AttentionHeads; head++)
                {
                    Rotate(q[i], head * d, i);
                }
                for (int head = 0; head < c.KeyValueHeads; head++)
                {
                    Rotate(k[i], head * d, i);
                }
            }
            var attended = new double[t][];
            int group = c.AttentionHeads / c.KeyValueHeads;
            for (int i = 0; i < t; i++)
            {
                attended[i] = new double[c.AttentionHeads * d];
                for (int head = 0; head < c.AttentionHeads; head++)
                {
                    int kvHead = head / group;
                    var scores = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double s = 0;
                        for (int e = 0; e < d; e++)
                        {
                            s += q[i][head * d + e] * k[j][kvHead * d + e];
                        }
                        scores[j] = s / Math.Sqrt(d);
                    }
                    double max = scores.Max();
                    double sum = scores.Sum(s => Math.Exp(s - max));
                    for (int j = 0; j <= i; j++)
                    {
                        double a = Math.Exp(scores[j] - max) / sum;
                        for (int e = 0; e < d; e++)
                        {
                            attended[i][head * d + e] += a * v[j][kvHead * d + e];
                        }
                    }
                }
            }
            for (int i = 0; i < t; i++)
            {
                double[] o = Linear(attended[i], p + "self_attn.o_proj");
                for (int e = 0; e < h; e++)
                {
                    x[i][e] += o[e];
                }
                double[] n = RmsNorm(x[i], p + "post_attention_layernorm.weight");
                double[] gate = Linear(n, p + "mlp.gate_proj"), up = Linear(n, p + "mlp.up_proj");
                double[] hiddenMlp = gate.Select((g, e) => g / (1 + Math.Exp(-g)) * up[e]).ToArray();
                double[] down = Linear(hiddenMlp, p + "mlp.down_proj");
                for (int e = 0; e < h; e++)
                {
                    x[i][e] += down[e];
                }
            }
        }
        string head0 = w.ContainsKey("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
        return x.Select(r =>
        {
            double[] n = RmsNorm(r, "model.norm.weight");
            return Enumerable.Range(0, c.VocabularySize).Select(v => Dot(Row(head0, v), n)).ToArray();
        }).ToArray();
    }

    private double[] Row(string name, int row)
    {
        int width = (int)shapes[name][1];
        return w[name].AsSpan(row * width, width).ToArray();
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += a[i] * b[i];
        }
        return s;
    }

    private double[] Linear(double[] x, string prefix)
    {
        int outputs = (int)shapes[prefix + ".weight"][0];
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            y[o] = Dot(Row(prefix + ".weight", o), x) + (w.TryGetValue(prefix + ".bias", out double[]? b) ? b[o] : 0);
        }
        return y;
    }

    private double[] RmsNorm(double[] x, string weight)
    {
        double mean = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(mean + c.RmsNormEps);
        return x.Select((v, i) => v * scale * w[weight][i]).ToArray();
    }

    /// <summary>Rotates the head starting at <paramref name="offset"/> by position <paramref name="position"/> (pairs i and i + D/2).</summary>
    private void Rotate(double[] v, int offset, int position)
    {
        int d = c.HeadDim, half = d / 2;
        for (int i = 0; i < half; i++)
        {
            double angle = position * Math.Pow(c.RopeTheta, -2.0 * i / d);
            double a = v[offset + i], b = v[offset + i + half];
            v[offset + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
            v[offset + i + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
        }
    }
}
