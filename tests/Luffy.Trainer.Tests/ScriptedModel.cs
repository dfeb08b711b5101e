using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

/// <summary>
/// A fixed "language model" for evaluation tests: whatever the context, it continues the prompt "Q:a+b+...=" with
/// <c>answer(problem)</c> and EOS, putting a logit of 50 on the scripted token and 0 on every other (probability of any
/// other token below 1e-20, at temperature 1 too). The output projection is the identity, so hidden states are logits.
/// </summary>
internal sealed class ScriptedModel : CausalLanguageModel
{
    private readonly CharTokenizer tokenizer = new();
    private readonly Func<ArithmeticProblem, string> answer;
    private readonly Parameter weight;
    private int[][] script = [];

    public ScriptedModel(Func<ArithmeticProblem, string> answer)
        : base("scripted")
    {
        this.answer = answer;
        weight = new Parameter(eye(tokenizer.VocabularySize), requires_grad: false);
        RegisterComponents();
    }

    public override int Layers => 1;

    public override Tensor OutputWeight => weight;

    public override Tensor HiddenStates(Tensor ids, Tensor positionIds, Tensor keyMask, KvCache? cache = null)
    {
        int b = (int)ids.shape[0], tn = (int)ids.shape[1], v = tokenizer.VocabularySize;
        long[] tokens = ids.cpu().data<long>().ToArray(), positions = positionIds.cpu().data<long>().ToArray();
        if (tn > 1) // a whole context (generation's first call or a training-batch forward): read each row's problem
        {
            script = new int[b][];
            for (int row = 0; row < b; row++)
            {
                string text = tokenizer.Decode(tokens.Skip(row * tn).Take(tn).Select(t => (int)t));
                string prompt = text[..(text.IndexOf('=') + 1)];
                var problem = new ArithmeticProblem([.. prompt[2..^1].Split('+').Select(int.Parse)]);
                script[row] = [CharTokenizer.Bos, .. tokenizer.Encode(prompt + answer(problem)), CharTokenizer.Eos];
            }
        }
        // which context each batch row is: generation drops finished rows from the batch and from the cache, so the
        // cache carries each row's context index (layer 0's keys: the index at the first call, zeros after)
        long[] context = [.. Enumerable.Range(0, b).Select(i => (long)i)];
        if (cache is not null)
        {
            using var scope = NewDisposeScope();
            Tensor index = tn > 1 ? arange(b, ScalarType.Float32).view(b, 1, 1, 1).expand(b, 1, tn, 1).contiguous() : zeros(b, 1, 1, 1);
            (Tensor keys, _) = cache.Append(0, index, index);
            context = [.. keys.select(2, 0).reshape(-1).data<float>().ToArray().Select(x => (long)x)];
        }
        var hidden = new float[b * tn * v];
        for (int row = 0; row < b; row++)
        {
            int[] rowScript = script[context[row]];
            for (int t = 0; t < tn; t++)
            {
                long next = positions[row * tn + t] + 1;
                int token = next < rowScript.Length ? rowScript[next] : CharTokenizer.Eos;
                hidden[(row * tn + t) * v + token] = 50;
            }
        }
        return tensor(hidden, [b, tn, v]);
    }
}
