using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Reflection;
using System.Text.Json;

namespace Luffy.Trainer;

/// <summary>
/// The command line, on System.CommandLine: one option per <see cref="TrainerOptions"/> property (--kebab-case), typed,
/// with its default in --help, and a JSON file of the same names (<c>--config</c>) validated against the same set.
/// Every error names the option, the value and what is allowed, and suggests the nearest option or value.
/// </summary>
public static class OptionParser
{
    private static readonly Dictionary<string, string> Descriptions = new()
    {
        ["mode"] = "a method (luffy, luffy-no-shaping, rl-sft, grpo, sft, sft-grpo), compare (every method of --methods over --seeds seeds, each at the learning rate --sweep chose) or sweep (choose each method's learning rate on the validation split)",
        ["methods"] = "the methods compare runs, comma-separated",
        ["model"] = "Hugging Face model folder (config.json + model.safetensors or index + tokenizer.json): train it instead of the embedded task",
        ["data"] = "JSONL training data (prompt messages, reward_model.ground_truth, target trace) for --model",
        ["eval-data"] = "JSONL evaluation data for --model (greedy accuracy on the first eval-per-level records)",
        ["dtype"] = "parameter dtype of --model: float32 or bfloat16",
        ["max-prompt-length"] = "longest prompt in tokens for --model (longer records are skipped)",
        ["system-prompt"] = "for --model records without a system turn: luffy (the reference <think> prompt), qwen or none",
        ["open-think"] = "for --model: the generation prompt opens <think> (traces starting with it are not doubled)",
        ["allow-pickle"] = "for --model: load pytorch_model.bin when there are no safetensors (unpickling can run code)",
        ["device"] = "cpu, cuda or cuda:N (cuda needs a build with -p:TorchBackend=cuda)",
        ["seed"] = "seed of the run (compare uses seeds seed..seed+seeds-1)",
        ["seeds"] = "number of seeds in compare and sweep modes",
        ["sweep-learning-rates"] = "the learning rates --mode sweep tries for every method, comma-separated",
        ["sweep-gammas"] = "the policy-shaping gammas --mode sweep tries for the methods with shaping (luffy), with every learning rate",
        ["sweep"] = "the sweep.json compare reads each method's learning rate from (default: the committed results/sweep.json), or none: every method at --learning-rate",
        ["steps"] = "RL (or SFT) rollout steps",
        ["prompts-per-step"] = "prompts per step",
        ["samples-per-prompt"] = "G, samples per prompt group (>= 2)",
        ["traces-per-prompt"] = "k, group members that carry an off-policy trace (luffy, luffy-no-shaping, rl-sft)",
        ["prefix-strategy"] = "full (whole trace, LUFFY's main run), random, fixed or linear (decay over the run)",
        ["learning-rate"] = "AdamW learning rate (the default is LUFFY's, chosen by the committed sweep on validation data)",
        ["warmup-steps"] = "linear warmup steps",
        ["lr-schedule"] = "constant or cosine (after warmup, to 10% of the rate at the last step)",
        ["weight-decay"] = "AdamW weight decay",
        ["grad-clip"] = "gradient-norm clip",
        ["temperature"] = "rollout sampling temperature (0 = greedy)",
        ["top-p"] = "rollout nucleus mass (1 = off)",
        ["max-response-length"] = "longest response in tokens",
        ["micro-batch"] = "sequences per micro-batch (gradient accumulation)",
        ["micro-batch-layout"] = "which rows share a micro-batch: sorted (grouped by length, each micro-batch cut to its own longest prompt and response: the least padding), trimmed (in order, each cut to its longest row) or consecutive (in order at the batch's full width: the layout of the results committed before this option existed)",
        ["rollout-batch"] = "sequences generated together (bounds the KV cache: lower it for long responses on a GPU)",
        ["gamma"] = "policy-shaping gamma of f(p) = p/(p+gamma) (the paper's is 0.1; the default is the committed sweep's choice)",
        ["entropy"] = "entropy bonus coefficient",
        ["kl-coefficient"] = "KL penalty to the frozen base model (k3, on every response token, trace tokens included as in verl; 0 = off, no reference forward)",
        ["replay-share"] = "exgrpo: the share of a step's prompts replayed from the experience buffer once replay has started (the official script's 0.5)",
        ["replay-start"] = "exgrpo: replay starts after the first step whose batch solves more than this share of its responses (the official script's 0.35)",
        ["dynamic-sampling"] = "train only on groups whose rewards differ (DAPO's dynamic sampling; a step without one makes no update)",
        ["clip-on-policy"] = "clip the on-policy ratio to [0.8, 1.2] (PPO's clip; it acts from a rollout batch's second update on; LUFFY's main run: off; exgrpo keeps its script's clip schedule)",
        ["std-normalize"] = "divide group advantages by the group std (LUFFY's main run: off)",
        ["sft-loss-coefficient"] = "lambda of rl-sft's SFT term (the reference's sft_loss_coef)",
        ["mini-batches"] = "optimizer updates per rollout batch (PPO mini-batches over the step's prompt groups; old log-probs fixed)",
        ["ppo-epochs"] = "passes over the rollout batch (each pass makes mini-batches updates; LUFFY's main run: 1)",
        ["max-operand"] = "operands of training problems are drawn from 1..max-operand",
        ["train-levels"] = "operand counts of the training problems",
        ["ood-levels"] = "operand counts of the long-chain out-of-distribution test set (never trained on)",
        ["ood-operands"] = "first operands of the ood-operands test set (training levels; numbers above max-operand, never seen as operands but reached as running sums in the traces)",
        ["pretrain-levels"] = "operand counts the base model is pre-trained on (answer only)",
        ["eval-every"] = "evaluate every N steps",
        ["eval-per-level"] = "test problems per level (fixed, seed-independent)",
        ["pass-k"] = "k of pass@k, sampled at temperature 1 on the hardest training level",
        ["pretrain-steps"] = "pre-training steps of the base model (cached)",
        ["pretrain-trace-fraction"] = "share of the --pretrain-trace-levels problems taught with worked solutions (the base has seen the format, never long chains)",
        ["pretrain-trace-levels"] = "the pre-training levels a share of whose problems is taught with worked solutions (of one and two steps by default: the base has seen the procedure, never a chain of three)",
        ["pretrain-batch"] = "pre-training batch size",
        ["pretrain-learning-rate"] = "pre-training learning rate",
        ["d-model"] = "model width",
        ["layers"] = "transformer layers",
        ["heads"] = "attention heads",
        ["checkpoint-every"] = "write a checkpoint every N steps",
        ["output"] = "output folder: <output>/<mode>-seed<seed> per run (relative paths are relative to the working folder)",
        ["cache"] = "folder of the cached base model (default: <output>/cache)",
        ["tensorboard"] = "also write the per-step metrics as TensorBoard event files (<run>/tensorboard)",
        ["resume"] = "continue from the run's last complete checkpoint (an error when there is none)",
        ["config"] = "JSON file of options (the same names); command-line options win",
    };

    private static readonly PropertyInfo[] Properties = typeof(TrainerOptions).GetProperties().Where(p => p.CanWrite).ToArray();

    private static readonly string[] Names = Properties.Select(p => Kebab(p.Name)).ToArray();

    public static string Kebab(string name) => JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    /// <summary>The --help text: every option with its description and default (System.CommandLine's help).</summary>
    public static string Help()
    {
        (RootCommand root, _) = Build();
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = writer });
        return writer.ToString();
    }

    /// <summary>Parses the arguments (and the --config file they name); returns null when --help was asked for.</summary>
    /// <exception cref="OptionException">An unknown option, a bad value or a bad config file; the message names it.</exception>
    public static TrainerOptions? Parse(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h") || args.Contains("-?"))
        {
            return null;
        }
        (RootCommand root, Dictionary<PropertyInfo, Option> options) = Build();
        ParseResult result = root.Parse(args);
        foreach (string token in result.UnmatchedTokens)
        {
            if (token.StartsWith('-'))
            {
                string name = token.TrimStart('-');
                throw OptionException.Unknown(name, Suggestions.Nearest(name, Names));
            }
            int at = Array.IndexOf(args, token);
            if (at > 0 && args[at - 1].StartsWith("--", StringComparison.Ordinal) && Properties.FirstOrDefault(p => "--" + Kebab(p.Name) == args[at - 1]) is { } flag && flag.PropertyType == typeof(bool))
            {
                throw new OptionException(args[at - 1][2..], token, "true or false (or the flag alone for true)");
            }
            string? option = Suggestions.Nearest(token, Names);
            throw OptionException.WithMessage("?", $"'{token}' is not an option: options are written --name value"
                + (option is null ? "" : $"; did you mean --{option}?") + " (--help lists every option)");
        }
        if (result.Errors.Count > 0)
        {
            throw OptionException.WithMessage("?", result.Errors[0].Message);
        }

        var values = new TrainerOptions();
        Option config = options[typeof(TrainerOptions).GetProperty(nameof(TrainerOptions.Config))!];
        if (result.GetResult(config) is { Implicit: false } configResult && configResult.Tokens.Count > 0)
        {
            values = FromJson(configResult.Tokens[0].Value);
        }
        foreach ((PropertyInfo property, Option option) in options)
        {
            if (result.GetResult(option) is { Implicit: false })
            {
                TrainerOptions copy = values with { };
                property.SetValue(copy, result.GetResult(option)!.GetValueOrDefault<object?>());
                values = copy;
            }
        }
        values.Validate();
        return values;
    }

    private static (RootCommand Root, Dictionary<PropertyInfo, Option> Options) Build()
    {
        var defaults = new TrainerOptions();
        var root = new RootCommand("Luffy.Trainer: fine-tunes a small transformer with LUFFY (mixed-policy GRPO) on an embedded arithmetic task, "
            + "or a Hugging Face Qwen2/Llama checkpoint on JSONL math data (--model DIR --data FILE). "
            + "Usage: dotnet run --project samples/Luffy.Trainer -c Release -- [options]");
        var options = new Dictionary<PropertyInfo, Option>();
        foreach (PropertyInfo property in Properties)
        {
            string name = Kebab(property.Name);
            Option option = Create(property, name, property.GetValue(defaults));
            option.Description = Descriptions.GetValueOrDefault(name, "");
            root.Options.Add(option);
            options[property] = option;
        }
        return (root, options);
    }

    /// <summary>A typed option whose parse errors read "--name 'value' is not valid; expected ...".</summary>
    private static Option Create(PropertyInfo property, string name, object? value)
    {
        Type type = property.PropertyType;
        if (type == typeof(bool))
        {
            return new Option<bool>("--" + name)
            {
                DefaultValueFactory = _ => (bool)value!,
                Arity = ArgumentArity.ZeroOrOne,
                CustomParser = r => r.Tokens.Count == 0 || ParseBool(r.Tokens[0].Value, name, r),
            };
        }
        if (type == typeof(int))
        {
            return new Option<int>("--" + name)
            {
                DefaultValueFactory = _ => (int)value!,
                CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : Fail<int>(r, name, "a whole number"),
            };
        }
        if (type == typeof(double))
        {
            return new Option<double>("--" + name)
            {
                DefaultValueFactory = _ => (double)value!,
                CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : Fail<double>(r, name, "a number"),
            };
        }
        var text = new Option<string?>("--" + name) { HelpName = "text" };
        if (value is string shown)
        {
            text.DefaultValueFactory = _ => shown;
        }
        return text;
    }

    private static bool ParseBool(string token, string name, ArgumentResult result) => token.ToLowerInvariant() switch
    {
        "true" => true,
        "false" => false,
        _ => Fail<bool>(result, name, "true or false (or the flag alone for true)"),
    };

    private static T Fail<T>(ArgumentResult result, string name, string expected)
    {
        result.AddError(new OptionException(name, result.Tokens[0].Value, expected).Message);
        return default!;
    }

    /// <summary>Options from a JSON object of the same names (with or without the dashes), checked like the command line.</summary>
    private static TrainerOptions FromJson(string path)
    {
        if (!File.Exists(path))
        {
            throw new OptionException("config", path, "an existing JSON file");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new OptionException("config", path, $"a readable JSON object of options ({ex.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new OptionException("config", path, $"a JSON object of options such as {{ \"steps\": 100 }}, not a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            }
            var options = new TrainerOptions();
            foreach (JsonProperty entry in document.RootElement.EnumerateObject())
            {
                string name = entry.Name.TrimStart('-');
                PropertyInfo? property = Properties.FirstOrDefault(p => Kebab(p.Name) == name);
                if (property is null || name == "config")
                {
                    throw OptionException.Unknown(name, Suggestions.Nearest(name, Names), path);
                }
                object? parsed = Convert(entry.Value, property.PropertyType);
                if (parsed is null && !(property.PropertyType == typeof(string) && entry.Value.ValueKind == JsonValueKind.Null))
                {
                    string expected = property.PropertyType == typeof(bool) ? "true or false" : property.PropertyType == typeof(int) ? "a whole number" : property.PropertyType == typeof(double) ? "a number" : "a string";
                    throw OptionException.WithMessage(name, $"{path}: \"{name}\": {entry.Value.GetRawText()} is not valid; expected {expected}.");
                }
                TrainerOptions copy = options with { };
                property.SetValue(copy, parsed);
                options = copy;
            }
            return options with { Config = path };
        }
    }

    private static object? Convert(JsonElement value, Type type) => type switch
    {
        _ when type == typeof(bool) => value.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => null },
        _ when type == typeof(int) => value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int i) ? i : null,
        _ when type == typeof(double) => value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null,
        _ => value.ValueKind == JsonValueKind.String ? value.GetString() : null,
    };
}
