using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Training;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class EvaluatorTests
{
    private static readonly TrainerOptions Options = new() { EvalPerLevel = 20, PassK = 4 };

    /// <summary>Answers right (with no steps) when the first operand is odd, "A:0" otherwise.</summary>
    private static string OddFirst(ArithmeticProblem p) => p.Operands[0] % 2 == 1 ? "A:" + p.Answer : "A:0";

    private static double Share(IEnumerable<ArithmeticProblem> problems) => problems.Average(p => p.Operands[0] % 2 == 1 ? 1.0 : 0.0);

    [Fact]
    public void Accuracy_validity_and_pass_at_k_of_a_scripted_model_equal_a_hand_count()
    {
        var data = new TaskData(new CharTokenizer(), Options.MaxOperand);
        using var model = new ScriptedModel(OddFirst);
        Evaluation evaluation = new ArithmeticTask(Options, data).Evaluate(model, null);

        IReadOnlyList<ArithmeticProblem> id = ArithmeticProblem.TestSet([2, 3, 4], 20, 9);
        IReadOnlyList<ArithmeticProblem> operands = ArithmeticProblem.NewOperandTestSet([2, 3, 4], 20, 9, 10, 19);
        IReadOnlyList<ArithmeticProblem> length = ArithmeticProblem.TestSet([5, 6], 20, 9);
        double hardest = Share(id.Where(p => p.Level == 4));
        Assert.InRange(Share(id), 0.2, 0.8); // the test sets mix odd and even first operands: the counts below mean something

        Assert.Equal(Share(id), evaluation.Splits[0].Accuracy, 12);
        Assert.Equal(Share(operands), evaluation.Splits[1].Accuracy, 12);
        Assert.Equal(Share(length), evaluation.Splits[2].Accuracy, 12);
        IReadOnlyList<ArithmeticProblem> validation = ArithmeticProblem.ValidationSet([2, 3, 4], 20, 9, [.. id, .. operands, .. length]);
        Assert.Equal(Evaluator.Validation, evaluation.Splits[3].Split);
        Assert.Equal(Share(validation), evaluation.Splits[3].Accuracy, 12);
        Assert.False(evaluation.Measures.ContainsKey(Evaluator.KlFromBase)); // no base model given
        Assert.Equal(hardest, evaluation.Splits[0].ByLevel[4], 12);
        Assert.Equal(Share(id), evaluation.Measures["process-validity"], 12);   // "A:sum" with no steps is valid, "A:0" is not
        Assert.Equal(0.0, evaluation.Measures["superficial-imitation"]);
        Assert.Equal(0.0, evaluation.Measures["scratchpad-use"]);                 // every answer is direct
        Assert.Equal(hardest, evaluation.Measures["pass@4"], 12);              // every one of the k samples is the scripted answer
        Assert.InRange(evaluation.Measures["entropy"], 0, 1e-12);               // a logit gap of 50: no uncertainty
    }

    [Fact]
    public void Superficial_imitation_counts_correct_answers_reached_through_false_steps()
    {
        var data = new TaskData(new CharTokenizer(), Options.MaxOperand);
        // every answer right; the problems whose first operand is odd get a false first step ("0+..." keeps the count but not the sum)
        using var model = new ScriptedModel(p => (p.Operands[0] % 2 == 1 ? "0+" + string.Join('+', p.Operands.Skip(1)) + ";" : "") + "A:" + p.Answer);
        Evaluation evaluation = new ArithmeticTask(Options, data).Evaluate(model, null);
        IReadOnlyList<ArithmeticProblem> id = ArithmeticProblem.TestSet([2, 3, 4], 20, 9);
        Assert.Equal(1.0, evaluation.Splits[0].Accuracy);
        Assert.Equal(Share(id), evaluation.Measures["superficial-imitation"], 12);
        Assert.Equal(1 - Share(id), evaluation.Measures["process-validity"], 12);
        Assert.Equal(Share(id.Where(p => p.Level == 4)), evaluation.Measures["scratchpad-use"], 12); // on the hardest level
    }

    [Fact]
    public void Trace_start_log_likelihood_is_the_mean_log_probability_of_the_first_trace_token_on_the_hardest_level()
    {
        var data = new TaskData(new CharTokenizer(), Options.MaxOperand);
        // odd first operand: the model writes the solver's trace (its first token, the first partial sum's first digit,
        // has logit 50: log p = -(V - 1) e^-50, zero in float32); even: it answers directly, and the trace's first token
        // (a digit, never the scripted 'A') has logit 0: log p = -50 - log(1 + (V - 1) e^-50) = -50 to float32's last bit.
        using var model = new ScriptedModel(p => p.Operands[0] % 2 == 1 ? p.Trace : "A:" + p.Answer);
        Evaluation evaluation = new ArithmeticTask(Options, data).Evaluate(model, null);
        double even = 1 - Share(ArithmeticProblem.TestSet([2, 3, 4], 20, 9).Where(p => p.Level == 4));
        Assert.InRange(even, 0.2, 0.8); // both kinds occur: the mean tells them apart
        // each log p is a float32 log-softmax of magnitude <= 50 (a few ulps of 50: ~1e-5); the mean is taken in float64
        Assert.Equal(-50 * even, evaluation.Measures["trace-start-log-likelihood"], 1e-4);
    }

    [Fact]
    public void Kl_from_the_base_is_zero_for_the_base_itself_and_the_exact_per_token_kl_of_a_scripted_change()
    {
        var data = new TaskData(new CharTokenizer(), Options.MaxOperand);
        var task = new ArithmeticTask(Options, data);
        using var model = new ScriptedModel(OddFirst);
        using var same = new ScriptedModel(OddFirst);
        using var direct = new ScriptedModel(p => "A:" + p.Answer);
        Assert.Equal(0.0, task.Evaluate(model, same).Measures[Evaluator.KlFromBase]);

        // the model answers "A:0" where the base answers "A:<sum>": at a position where their scripted tokens differ the
        // next-token distributions put logit 50 on different tokens, KL = 50 (e^50 - 1) / (e^50 + V - 1) = 50 in float64;
        // where they agree the logits are equal and KL is 0. Counted by hand over the model's own responses (EOS included).
        IReadOnlyList<ArithmeticProblem> id = ArithmeticProblem.TestSet([2, 3, 4], 20, 9);
        long differing = 0, tokens = 0;
        foreach (ArithmeticProblem p in id)
        {
            string mine = OddFirst(p), theirs = "A:" + p.Answer;
            for (int i = 0; i <= mine.Length; i++) // the response's characters and its EOS
            {
                char? a = i < mine.Length ? mine[i] : null, b = i < theirs.Length ? theirs[i] : null;
                differing += a != b ? 1 : 0;
                tokens++;
            }
        }
        Assert.True(differing > 0);
        Assert.Equal(50.0 * differing / tokens, task.Evaluate(model, direct).Measures[Evaluator.KlFromBase], 9);
    }
}
