using System.Globalization;
using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.HuggingFace;
using Luffy.Trainer.Model;
using Luffy.Trainer.Reasoning;
using Luffy.Trainer.Reporting;
using Luffy.Trainer.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Trainer;

/// <summary>The command-line program: parses options, then runs one mode or the comparison.</summary>
public static class TrainerApp
{
    public static Task<int> RunAsync(string[] args)
    {
        TrainerOptions? options;
        try
        {
            options = OptionParser.Parse(args);
        }
        catch (OptionException ex)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
            AnsiConsole.WriteLine("Run with --help to list every option and its default.");
            return Task.FromResult(2);
        }
        if (options is null)
        {
            Console.Write(OptionParser.Help());
            return Task.FromResult(0);
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
            AnsiConsole.MarkupLine("[yellow]interrupt: finishing the current step, saving a checkpoint and exiting (Ctrl+C again to abort)[/]");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            Device device = ResolveDevice(options.Device);
            AnsiConsole.MarkupLineInterpolated($"[bold]Luffy.Trainer[/] mode [aqua]{options.Mode}[/] on [aqua]{device}[/], {Environment.ProcessorCount} cores, torch threads {get_num_threads()}");
            if (options.Model is not null)
            {
                return Task.FromResult(RunHuggingFace(options, device, cancellation.Token));
            }
            var data = new TaskData(new CharTokenizer(), options.MaxOperand);
            TinyTransformer baseModel = WithProgress("pre-training base model", progress => BaseModel.LoadOrPretrain(options, data, device, Log, progress));
            var task = new ArithmeticTask(options, data);
            if (options.Mode == "compare")
            {
                return Task.FromResult(CompareRunner.Run(options, task, baseModel, device, cancellation.Token));
            }
            RunSummary summary = SingleRun.Run(options, options.Mode, options.Seed, task, baseModel.Copy(), device, cancellation.Token, progressUi: true);
            SingleRun.Print(summary);
            return Task.FromResult(summary.Cancelled ? 130 : 0);
        }
        catch (Exception ex) when (ex is OptionException or CheckpointException or SafetensorsException or DataFormatException or FileNotFoundException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {ex.Message}");
            return Task.FromResult(2);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>
    /// <c>--model DIR --data FILE</c>: LUFFY (or GRPO / SFT) on a Hugging Face checkpoint; the fine-tuned weights are
    /// exported next to every checkpoint as <c>&lt;run&gt;/hf-model</c> in the same layout.
    /// </summary>
    public static int RunHuggingFace(TrainerOptions options, Device device, CancellationToken cancel)
    {
        string dir = options.Model!;
        ScalarType dtype = options.Dtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.Load(Path.Combine(dir, "tokenizer.json"));
        DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir, dtype, options.AllowPickle);
        long parameters = model.parameters().Sum(p => p.numel());
        Log(string.Create(CultureInfo.InvariantCulture, $"model: {model.Config.ModelType}, {parameters / 1e6:F1}M parameters in {options.Dtype}, {model.Config.Layers} layers, vocabulary {model.Config.VocabularySize}; loaded from {dir} in {clock.Elapsed.TotalSeconds:F1} s"));
        if (options.MaxPromptLength + options.MaxResponseLength > model.Config.MaxPositions)
        {
            Log($"warning: max-prompt-length + max-response-length = {options.MaxPromptLength + options.MaxResponseLength} exceeds the model's max_position_embeddings = {model.Config.MaxPositions}");
        }
        var task = new ReasoningTask(tokenizer, model.Config, options.Data!, options.EvalData, options);
        void Export(CausalLanguageModel trained, string runDirectory) =>
            HuggingFaceCheckpoint.Save((DecoderLanguageModel)trained, Path.Combine(runDirectory, "hf-model"), dir);
        RunSummary summary = SingleRun.Run(options, options.Mode, options.Seed, task, model, device, cancel, progressUi: true, Export);
        SingleRun.Print(summary);
        Log($"fine-tuned weights: {Path.Combine(options.Output, $"{options.Mode}-seed{options.Seed}", "hf-model")} (config.json, tokenizer, safetensors)");
        if (task.SkippedRecords > 0)
        {
            Log($"{task.SkippedRecords} training records were skipped: prompt longer than max-prompt-length = {options.MaxPromptLength}");
        }
        return summary.Cancelled ? 130 : 0;
    }

    public static void Log(string message) => AnsiConsole.MarkupLineInterpolated($"[grey]{message}[/]");

    public static Device ResolveDevice(string name)
    {
        if (name == "cpu")
        {
            return CPU;
        }
        if (!cuda.is_available())
        {
            throw new OptionException("device", name, "cpu: CUDA is not available in this build or on this machine (build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU)");
        }
        return new Device(name);
    }

    /// <summary>Runs <paramref name="work"/> under a Spectre progress bar fed by (done, total) callbacks.</summary>
    public static T WithProgress<T>(string title, Func<Action<int, int>, T> work)
    {
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(title, maxValue: 1);
                result = work((done, total) =>
                {
                    task.MaxValue = total;
                    task.Value = done;
                });
                task.Value = task.MaxValue;
            });
        return result;
    }

    public static string Percent(double value) => double.IsNaN(value) ? "-" : (100 * value).ToString("F1", CultureInfo.InvariantCulture) + "%";
}
